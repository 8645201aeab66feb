#!/usr/bin/env node
'use strict';
// Node client of a slimserve server (slimserve.v1.Inference over gRPC), with
// @grpc/grpc-js and @grpc/proto-loader; the .proto files are loaded from the
// repository at run time (proto/ and client/health.proto), so nothing is
// generated.
//
//   const {SlimClient} = require('./client');
//   const client = new SlimClient('localhost:50051');
//   await client.waitForReady(10000);
//   const info = await client.modelInfo();
//   const response = await client.infer({
//     image: {encoded: fs.readFileSync('photo.png')},
//     budget: {fraction: 0.25},
//     task_weights: {semseg: 1},
//   });
//   await client.health();  // 'SERVING'
//
// Messages use the .proto field names (keepCase); enums are strings; bytes
// are Buffers. Errors reject with grpc-js ServiceErrors: err.code is the
// numeric status, codeName(err.code) its name (e.g. 'INVALID_ARGUMENT').
//
// As a command (prints JSON; output data as byte counts; exit 1 on an RPC
// error, 2 on a usage error):
//   node client.js --target=HOST:PORT model
//   node client.js --target=HOST:PORT health [--service=NAME]
//   node client.js --target=HOST:PORT infer (--image=FILE | --raw=HxWxC)
//       [--budget=F] [--weights=semseg=1,depth=0.5] [--request_id=ID]

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const PROTO_DIR = path.join(REPO_ROOT, 'proto');
const HEALTH_PROTO = path.join(REPO_ROOT, 'client', 'health.proto');
// The server sends RAW outputs of every task of big models in one message.
const MAX_RECEIVE_MESSAGE_BYTES = 64 << 20;

const LOADER_OPTIONS = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

function codeName(code) {
  // waitForReady fails without a code when the deadline passes unconnected.
  if (code === undefined) return 'UNAVAILABLE';
  return Object.keys(grpc.status).find((name) => grpc.status[name] === code) ||
      String(code);
}

function loadProtos(protoDir, healthProto) {
  const api = protoLoader.loadSync('slimserve/v1/slimserve.proto',
      {...LOADER_OPTIONS, includeDirs: [protoDir]});
  const health = protoLoader.loadSync(healthProto, LOADER_OPTIONS);
  return {
    inference: grpc.loadPackageDefinition(api).slimserve.v1.Inference,
    health: grpc.loadPackageDefinition(health).grpc.health.v1.Health,
  };
}

class SlimClient {
  // target: host:port or a gRPC target URI.
  constructor(target, {protoDir = PROTO_DIR, healthProto = HEALTH_PROTO,
    channelOptions = {}} = {}) {
    const services = loadProtos(protoDir, healthProto);
    const options = {
      'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
      ...channelOptions,
    };
    const credentials = grpc.credentials.createInsecure();
    this.inference = new services.inference(target, credentials, options);
    // Same target, credentials and options: grpc-js shares the connection.
    this.healthStub = new services.health(target, credentials, options);
  }

  // Resolves once connected; rejects after timeoutMs.
  waitForReady(timeoutMs) {
    return new Promise((resolve, reject) => {
      this.inference.waitForReady(Date.now() + timeoutMs,
          (err) => (err ? reject(err) : resolve()));
    });
  }

  static call(stub, method, request, timeoutMs) {
    const options = timeoutMs ? {deadline: Date.now() + timeoutMs} : {};
    return new Promise((resolve, reject) => {
      stub[method](request, options,
          (err, response) => (err ? reject(err) : resolve(response)));
    });
  }

  infer(request, {timeoutMs} = {}) {
    return SlimClient.call(this.inference, 'Infer', request, timeoutMs);
  }

  plan(request, {timeoutMs} = {}) {
    return SlimClient.call(this.inference, 'Plan', request, timeoutMs);
  }

  modelInfo({timeoutMs} = {}) {
    return SlimClient.call(this.inference, 'GetModelInfo', {}, timeoutMs);
  }

  // 'SERVING' or 'NOT_SERVING' for `service` ('' = the whole server).
  async health(service = '', {timeoutMs} = {}) {
    const response = await SlimClient.call(this.healthStub, 'Check',
        {service}, timeoutMs);
    return response.status;
  }

  close() {
    this.inference.close();
    this.healthStub.close();
  }
}

// --- command line ---

function parseArgs(argv) {
  const flags = {};
  const positional = [];
  for (const arg of argv) {
    const match = /^--([a-z_]+)=(.*)$/.exec(arg);
    if (match) {
      flags[match[1]] = match[2];
    } else {
      positional.push(arg);
    }
  }
  return {flags, positional};
}

function usage(message) {
  process.stderr.write(`usage error: ${message}\n`);
  process.exit(2);
}

// A smooth test pattern of height x width x channels uint8 pixels.
function testPixels(height, width, channels) {
  const pixels = Buffer.alloc(height * width * channels);
  for (let i = 0; i < pixels.length; ++i) pixels[i] = (i * 7) % 256;
  return pixels;
}

function inferRequest(flags) {
  const request = {
    request_id: flags.request_id || '',
    budget: {fraction: flags.budget === undefined ? 1 : Number(flags.budget)},
    task_weights: {},
  };
  if (flags.image) {
    request.image = {encoded: fs.readFileSync(flags.image)};
  } else if (flags.raw) {
    const [height, width, channels] = flags.raw.split('x').map(Number);
    if (!(height > 0 && width > 0 && channels > 0)) {
      usage('--raw: expected HxWxC');
    }
    request.image = {raw: {data: testPixels(height, width, channels),
      height, width, channels}};
  } else {
    usage('infer: --image or --raw is required');
  }
  for (const item of (flags.weights || '').split(',').filter((s) => s)) {
    const [task, weight] = item.split('=');
    request.task_weights[task] = Number(weight);
  }
  return request;
}

// The response without output data (byte counts instead).
function summarize(response) {
  const outputs = response.outputs.map((output) => ({
    task: output.task,
    kind: output.kind,
    shape: output.shape,
    bytes: output.png ? output.png.length :
        (output.tensor ? output.tensor.data.length : 0),
  }));
  return {...response, outputs};
}

async function main() {
  const {flags, positional} = parseArgs(process.argv.slice(2));
  if (positional.length !== 1) usage('one command: model, health or infer');
  const timeoutMs = 1000 * Number(flags.timeout_s || 30);
  const client = new SlimClient(flags.target || 'localhost:50051');
  try {
    await client.waitForReady(timeoutMs);
    let result;
    switch (positional[0]) {
      case 'model':
        result = await client.modelInfo({timeoutMs});
        break;
      case 'health':
        result = {status: await client.health(flags.service || '',
            {timeoutMs})};
        break;
      case 'infer':
        result = summarize(await client.infer(inferRequest(flags),
            {timeoutMs}));
        break;
      default:
        usage(`unknown command "${positional[0]}"`);
    }
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } catch (err) {
    process.stdout.write(JSON.stringify({error: {
      code: codeName(err.code), details: err.details || String(err)}}) + '\n');
    process.exitCode = 1;
  } finally {
    client.close();
  }
}

module.exports = {SlimClient, codeName, loadProtos};

if (require.main === module) main();

#!/usr/bin/env node
'use strict';
// Node client of a slimserve server (slimserve.v1.InferenceService over gRPC), with
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
//   const result = await client.predict(request);  // typed arrays
//   result.outputs.depth.data;  // Float32Array of 1*H*W metres
//   for await (const r of client.inferStream(frames, {defaults})) ...
// Types: client.d.ts.
//
// Messages use the .proto field names (keepCase); enums are strings; bytes
// are Buffers. Errors reject with grpc-js ServiceErrors: err.code is the
// numeric status, codeName(err.code) its name (e.g. 'INVALID_ARGUMENT').
// Calls failing with a code of RETRYABLE_CODES are retried by gRPC's retry
// policy ({retry: false} turns it off), as the C++ and Python clients do.
// TLS: {tls: {rootCerts, certChain, privateKey, serverName}} (PEM Buffers;
// no rootCerts: the system's roots; certChain + privateKey: mutual TLS).
//
// As a command (prints JSON; output data as byte counts; exit 1 on an RPC
// error, 2 on a usage error):
//   node client.js --target=HOST:PORT model
//   node client.js --target=HOST:PORT health [--service=NAME]
//   node client.js --target=HOST:PORT infer (--image=FILE | --raw=HxWxC)
//       [--budget=F] [--weights=semseg=1,depth=0.5] [--request_id=ID]
//   node client.js --target=HOST:PORT stream (--image=FILE | --raw=HxWxC)
//       --frames=N [--budget=F] [--weights=...]   (InferStream of N frames:
//       prints per-frame ids, ok/error counts and the plans' MFLOPs)
//   TLS: [--tls_ca_file=PEM] [--tls_cert_file=PEM --tls_key_file=PEM]
//       [--tls_server_name=NAME] (any of them, or --tls=true, turns it on)

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

// What a client may retry (client/channel.h says why).
const RETRYABLE_CODES = ['UNAVAILABLE', 'RESOURCE_EXHAUSTED', 'CANCELLED'];

// gRPC service config (JSON) of the retry policy, as client/channel.cc
// writes it.
function retryServiceConfig(maxAttempts = 3) {
  if (!(maxAttempts >= 2 && maxAttempts <= 5)) {
    throw new RangeError(`maxAttempts must be in [2, 5], got ${maxAttempts}`);
  }
  return JSON.stringify({
    methodConfig: [{
      name: [{service: 'slimserve.v1.InferenceService'},
        {service: 'grpc.health.v1.Health'}],
      retryPolicy: {
        maxAttempts,
        initialBackoff: '0.05s',
        maxBackoff: '1s',
        backoffMultiplier: 2,
        retryableStatusCodes: RETRYABLE_CODES,
      },
    }],
    retryThrottling: {maxTokens: 10, tokenRatio: 0.1},
  });
}

function credentialsFor(tls) {
  if (!tls) return grpc.credentials.createInsecure();
  if (!tls.certChain !== !tls.privateKey) {
    throw new TypeError('tls.certChain and tls.privateKey go together');
  }
  return grpc.credentials.createSsl(tls.rootCerts || null,
      tls.privateKey || null, tls.certChain || null);
}

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
    inference: grpc.loadPackageDefinition(api).slimserve.v1.InferenceService,
    health: grpc.loadPackageDefinition(health).grpc.health.v1.Health,
  };
}

const TYPED_ARRAYS = {
  DATA_TYPE_FLOAT32: Float32Array,
  DATA_TYPE_UINT8: Uint8Array,
  DATA_TYPE_UINT16: Uint16Array,
};

// A TaskOutput's data as {task, kind, shape: [C, H, W], dtype, data}: data
// a Float32Array / Uint8Array / Uint16Array (RAW, little-endian as the wire
// says; copied when the Buffer is not aligned for the element size), or
// the PNG file as a Buffer with dtype 'png'.
function outputArray(output) {
  const shape = output.shape.map(Number);
  if (output.data === 'png' || output.png) {
    return {task: output.task, kind: output.kind, shape, dtype: 'png',
      data: output.png};
  }
  const tensor = output.tensor;
  const Type = TYPED_ARRAYS[tensor.dtype];
  if (!Type) throw new TypeError(`unknown dtype ${tensor.dtype}`);
  let bytes = tensor.data;
  if (bytes.byteOffset % Type.BYTES_PER_ELEMENT !== 0) {
    bytes = Buffer.from(bytes);  // a fresh, aligned copy
  }
  const data = new Type(bytes.buffer, bytes.byteOffset,
      bytes.byteLength / Type.BYTES_PER_ELEMENT);
  return {task: output.task, kind: output.kind, shape, dtype: tensor.dtype,
    data};
}

// An InferResponse as {requestId, plan, timings, tasks, outputs: {task:
// outputArray(...)}}.
function resultOf(response) {
  const outputs = {};
  for (const output of response.outputs) {
    outputs[output.task] = outputArray(output);
  }
  return {requestId: response.request_id, plan: response.plan,
    timings: response.timings, tasks: response.outputs.map((o) => o.task),
    outputs};
}

// Resolves when `stream` can take more writes, or is gone.
function drainedOrClosed(stream) {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

class SlimClient {
  // target: host:port or a gRPC target URI.
  // tls: see above; retry, maxAttempts (2..5): the retry policy.
  constructor(target, {protoDir = PROTO_DIR, healthProto = HEALTH_PROTO,
    channelOptions = {}, tls = null, retry = true, maxAttempts = 3} = {}) {
    const services = loadProtos(protoDir, healthProto);
    const options = {
      'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
      'grpc.enable_retries': retry ? 1 : 0,
    };
    if (retry) options['grpc.service_config'] = retryServiceConfig(maxAttempts);
    if (tls && tls.serverName) {
      options['grpc.ssl_target_name_override'] = tls.serverName;
      options['grpc.default_authority'] = tls.serverName;
    }
    Object.assign(options, channelOptions);
    const credentials = credentialsFor(tls);
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

  // infer() answered as resultOf(): outputs as typed arrays.
  async predict(request, {timeoutMs} = {}) {
    return resultOf(await this.infer(request, {timeoutMs}));
  }

  plan(request, {timeoutMs} = {}) {
    return SlimClient.call(this.inference, 'Plan', request, timeoutMs);
  }

  // InferStream: frames (InferRequest objects, from any iterable or async
  // iterable, read lazily) go out with `defaults` (a StreamDefaults) on the
  // first; yields the InferStreamResponses in order (`result` says which
  // of `response` / `error` is set; a failed frame does not end the
  // stream). A write waits for the stream to drain, so a slow consumer of
  // the responses slows the reading of `frames`. Leaving the loop early
  // cancels the stream.
  async* inferStream(frames, {defaults = null, timeoutMs} = {}) {
    const options = timeoutMs ? {deadline: Date.now() + timeoutMs} : {};
    const call = this.inference.InferStream(options);
    let writeError = null;
    const writer = (async () => {
      try {
        let first = true;
        for await (const frame of frames) {
          if (call.destroyed) return;
          const message = {frame};
          if (first && defaults) message.defaults = defaults;
          first = false;
          if (!call.write(message)) await drainedOrClosed(call);
        }
        call.end();
      } catch (err) {
        writeError = err;
        call.cancel();
      }
    })();
    try {
      for await (const response of call) yield response;
    } finally {
      call.cancel();  // no-op once the stream has ended
      await writer;
    }
    if (writeError) throw writeError;
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

// {tls} options of the --tls* flags, or null for plaintext.
function tlsFromFlags(flags) {
  const read = (name) => (flags[name] ? fs.readFileSync(flags[name]) : null);
  const tls = {
    rootCerts: read('tls_ca_file'),
    certChain: read('tls_cert_file'),
    privateKey: read('tls_key_file'),
    serverName: flags.tls_server_name || null,
  };
  if (!!tls.certChain !== !!tls.privateKey) {
    usage('--tls_cert_file and --tls_key_file: give both or neither');
  }
  const any = flags.tls === 'true' || Object.values(tls).some((v) => v);
  return any ? tls : null;
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

// InferStream of --frames copies of the request's image, summarised.
async function streamSummary(client, flags, timeoutMs) {
  const request = inferRequest(flags);
  const count = Number(flags.frames || 1);
  if (!(count >= 1)) usage('--frames: expected a count >= 1');
  function* frames() {
    for (let i = 0; i < count; ++i) {
      yield {request_id: `frame-${i}`, image: request.image};
    }
  }
  const summary = {ids: [], ok: 0, errors: [], mflops: []};
  for await (const r of client.inferStream(frames(), {timeoutMs, defaults: {
    budget: request.budget, task_weights: request.task_weights}})) {
    summary.ids.push(r.request_id);
    if (r.result === 'response') {
      summary.ok += 1;
      summary.mflops.push(r.response.plan.mflops);
    } else {
      summary.errors.push({id: r.request_id, code: codeName(r.error.code),
        message: r.error.message});
    }
  }
  return summary;
}

async function main() {
  const {flags, positional} = parseArgs(process.argv.slice(2));
  if (positional.length !== 1) {
    usage('one command: model, health, infer or stream');
  }
  const timeoutMs = 1000 * Number(flags.timeout_s || 30);
  const client = new SlimClient(flags.target || 'localhost:50051',
      {tls: tlsFromFlags(flags), retry: flags.retry !== 'false'});
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
      case 'stream':
        result = await streamSummary(client, flags, timeoutMs);
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

module.exports = {SlimClient, codeName, loadProtos, outputArray, resultOf,
  RETRYABLE_CODES, retryServiceConfig};

if (require.main === module) main();

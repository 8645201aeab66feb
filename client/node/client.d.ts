// Types of client.js (slimserve.v1 over @grpc/grpc-js). Messages keep the
// .proto field names; enums are their names; bytes are Buffers; int64 are
// numbers.

export type Budget = {fraction: number} | {mflops: number} | {milliseconds: number};
export type OutputFormat = 'OUTPUT_FORMAT_UNSPECIFIED' | 'OUTPUT_FORMAT_RAW' | 'OUTPUT_FORMAT_PNG';
export type OutputSize = 'OUTPUT_SIZE_UNSPECIFIED' | 'OUTPUT_SIZE_MODEL' | 'OUTPUT_SIZE_INPUT';
export type DataType = 'DATA_TYPE_FLOAT32' | 'DATA_TYPE_UINT8' | 'DATA_TYPE_UINT16';
export type TaskKind = 'TASK_KIND_SEMANTIC_SEGMENTATION' | 'TASK_KIND_DEPTH' |
    'TASK_KIND_SURFACE_NORMALS' | 'TASK_KIND_EDGES';

export interface Image {
  encoded?: Buffer;
  raw?: {data: Buffer; height: number; width: number; channels: number};
}

export interface InferRequest {
  request_id?: string;
  image: Image;
  budget: Budget;
  task_weights?: Record<string, number>;
  output_formats?: Record<string, OutputFormat>;
  default_output_format?: OutputFormat;
  output_size?: OutputSize;
}

export interface TaskPlan {
  task: string; weight: number; decoder_width: number; mflops: number;
  predicted_quality: number;
}

export interface PlanInfo {
  encoder_width: number; tasks: TaskPlan[]; encoder_mflops: number;
  mflops: number; budget_mflops: number; full_mflops: number; planner: string;
  degraded: boolean; predicted_latency_ms: number; objective: number;
  synthetic_quality: boolean;
}

export interface Timings {
  queue_ms: number; preprocess_ms: number; compute_ms: number;
  postprocess_ms: number; total_ms: number;
}

export interface TaskOutput {
  task: string;
  kind: TaskKind;
  data: 'tensor' | 'png';
  tensor?: {dtype: DataType; shape: number[]; data: Buffer};
  png?: Buffer;
  shape: number[];
}

export interface InferResponse {
  request_id: string; outputs: TaskOutput[]; plan: PlanInfo; timings: Timings;
}

export interface StreamDefaults {
  budget?: Budget;
  task_weights?: Record<string, number>;
  output_formats?: Record<string, OutputFormat>;
  default_output_format?: OutputFormat;
  output_size?: OutputSize;
  frame_timeout_ms?: number;
}

export interface InferStreamResponse {
  request_id: string;
  result: 'response' | 'error';
  response?: InferResponse;
  error?: {code: number; message: string};
}

// One output as an array: RAW as a typed array of C*H*W elements, PNG as
// the file.
export interface OutputArray {
  task: string;
  kind: TaskKind;
  shape: [number, number, number];
  dtype: DataType | 'png';
  data: Float32Array | Uint8Array | Uint16Array | Buffer;
}

export interface Result {
  requestId: string;
  plan: PlanInfo;
  timings: Timings;
  tasks: string[];
  outputs: Record<string, OutputArray>;
}

export interface ClientOptions {
  protoDir?: string;
  healthProto?: string;
  channelOptions?: Record<string, unknown>;
  tls?: {rootCerts?: Buffer; certChain?: Buffer; privateKey?: Buffer;
         serverName?: string} | null;
  retry?: boolean;
  maxAttempts?: number;
}

export interface CallOptions { timeoutMs?: number; }

export class SlimClient {
  constructor(target: string, options?: ClientOptions);
  waitForReady(timeoutMs: number): Promise<void>;
  infer(request: InferRequest, options?: CallOptions): Promise<InferResponse>;
  predict(request: InferRequest, options?: CallOptions): Promise<Result>;
  inferStream(frames: Iterable<InferRequest> | AsyncIterable<InferRequest>,
              options?: CallOptions & {defaults?: StreamDefaults | null}):
      AsyncGenerator<InferStreamResponse>;
  plan(request: {request_id?: string; budget: Budget;
                 task_weights?: Record<string, number>},
       options?: CallOptions): Promise<{request_id: string; plan: PlanInfo}>;
  modelInfo(options?: CallOptions): Promise<Record<string, unknown>>;
  health(service?: string, options?: CallOptions): Promise<'SERVING' | 'NOT_SERVING'>;
  close(): void;
}

export function outputArray(output: TaskOutput): OutputArray;
export function resultOf(response: InferResponse): Result;
export function codeName(code: number | undefined): string;
export const RETRYABLE_CODES: string[];
export function retryServiceConfig(maxAttempts?: number): string;

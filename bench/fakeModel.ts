import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What the fake model does with one call. `latencyMs` overrides the standing
 * latency for that call.
 * - echo: the default answer, `echo: <last user message>`;
 * - reply: this exact reply (null: an answer with no content);
 * - handoff: a `handoff_to_human` tool call (openai) or `"handoff": true` (http agent);
 * - tool_calls: these function calls (openai), `arguments` given as a value (sent as its JSON) or as raw text;
 * - tool_echo: the reply `tool: <content of the last tool message>` (openai), to see a tool's result used;
 * - status: this HTTP status, with `body` or an OpenAI-style error body;
 * - garbage: 200 with a body that is not JSON;
 * - hang: never answers; the request ends when the client aborts it or the server closes;
 * - tool: a call of the named tool with `args` (openai); the http agent answers the `http` object verbatim.
 */
export type FakeModelAnswer =
  | { kind: 'echo'; latencyMs?: number }
  | { kind: 'reply'; reply: string | null; latencyMs?: number }
  | { kind: 'handoff'; reply?: string | null; reason?: string; latencyMs?: number }
  | { kind: 'tool_calls'; calls: { name: string; arguments: unknown }[]; latencyMs?: number }
  | { kind: 'tool_echo'; latencyMs?: number }
  /** A tool call (openai) with these arguments; the http agent answers `http` instead, or `{reply}`. */
  | { kind: 'tool'; name: string; args: Record<string, unknown>; reply?: string | null; http?: Record<string, unknown>; latencyMs?: number }
  | { kind: 'status'; status: number; body?: string; latencyMs?: number }
  | { kind: 'garbage'; latencyMs?: number }
  | { kind: 'hang' };

/** An answer, or a shorthand: 'echo' | 'handoff' | 'garbage' | 'hang', or an HTTP status such as 500. */
export type FakeModelScript = FakeModelAnswer | 'echo' | 'handoff' | 'garbage' | 'hang' | number;

/** One request as the fake model received it. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The exact body text. */
  rawBody: string;
  /** The body parsed as JSON, or null when it is not JSON. */
  body: any;
  /** Date.now() when the body had arrived. */
  at: number;
}

export interface FakeModelOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Standing latency of every answer (default 0). */
  latencyMs?: number;
  /** Record each request in `requests` (default true; off for load, where nobody reads them). */
  record?: boolean;
  /** Latency of `/audio/transcriptions` answers (default 0). */
  transcriptionLatencyMs?: number;
}

/** One audio file as `/audio/transcriptions` received it. */
export interface RecordedTranscription {
  model: string | null;
  filename: string | null;
  mime: string | null;
  bytes: number;
  authorization: string | null;
}

/** Recorded requests kept at most; the oldest half is dropped past it, so a long run stays bounded. */
const MAX_RECORDED = 10_000;

/**
 * A fake OpenAI-compatible model and `http` agent endpoint: a real HTTP
 * server on 127.0.0.1. `POST /v1/chat/completions` answers in OpenAI's
 * shape (with usage); `POST /http-agent` answers `{"reply": …}` and checks
 * no signature. Upcoming calls follow `script(...)`, then the standing
 * `setMode(...)` (echo by default). Cheap per request: no recording when
 * `record` is false, one JSON parse and one stringify per call.
 */
export class FakeModel {
  readonly requests: RecordedRequest[] = [];
  private queue: FakeModelAnswer[] = [];
  private mode: FakeModelAnswer = { kind: 'echo' };
  private latencyMs: number;
  private readonly record: boolean;
  private seq = 0;
  /** Requests not yet answered, until their response closes. */
  private readonly open = new Set<ServerResponse>();
  private _maxConcurrent = 0;
  private _count = 0;
  private _connections = 0;
  private url_ = '';
  /** Each audio file `/audio/transcriptions` received (kept when `record` is on). */
  readonly transcriptions: RecordedTranscription[] = [];
  /** The URLs of every image content part the chat endpoint received (data: URLs included), in order. */
  readonly imageParts: string[] = [];
  private transcriptionLatencyMs: number;
  private transcriptionQueue: (string | number)[] = [];

  private constructor(
    private readonly server: Server,
    opts: FakeModelOptions,
  ) {
    this.latencyMs = opts.latencyMs ?? 0;
    this.record = opts.record ?? true;
    this.transcriptionLatencyMs = opts.transcriptionLatencyMs ?? 0;
  }

  /**
   * The next transcriptions answer these, in order: a string is the
   * transcript, a number an HTTP error status. Unscripted, the transcript is
   * `transcript of <file name> (<n> bytes)`.
   */
  scriptTranscription(...answers: (string | number)[]): void {
    this.transcriptionQueue.push(...answers);
  }
  /** The latency of `/audio/transcriptions` answers, in ms. */
  setTranscriptionLatency(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`latency must be ≥ 0 (got ${ms})`);
    this.transcriptionLatencyMs = ms;
  }

  /** Starts a fake model on 127.0.0.1. */
  static async start(opts: FakeModelOptions = {}): Promise<FakeModel> {
    const server = createServer();
    const fake = new FakeModel(server, opts);
    server.on('request', (req, res) => fake.handle(req, res));
    server.on('connection', () => fake._connections++);
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    fake.url_ = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return fake;
  }

  /** The origin, e.g. http://127.0.0.1:43210. */
  get url(): string {
    return this.url_;
  }
  /** The `openai` base URL (`{url}/v1`). */
  get openaiBaseUrl(): string {
    return this.url_ + '/v1';
  }
  /** The `http` agent URL (`{url}/http-agent`). */
  get httpAgentUrl(): string {
    return this.url_ + '/http-agent';
  }
  /** Requests being answered now. */
  get inflight(): number {
    let n = 0;
    // A caller that gave up destroyed its connection at once; its response's 'close' can come much later.
    for (const res of this.open) if (res.socket && !res.socket.destroyed) n++;
    return n;
  }
  /** The most requests ever in flight at once. */
  get maxConcurrent(): number {
    return this._maxConcurrent;
  }
  /** TCP connections accepted: with keep-alive, far fewer than requests. */
  get connections(): number {
    return this._connections;
  }
  /** Requests received (recorded or not). */
  get count(): number {
    return this._count;
  }

  /** The next calls, in order, get these answers; then the standing mode again. */
  script(...answers: FakeModelScript[]): void {
    this.queue.push(...answers.map(toAnswer));
  }
  /** The answer of every call that no script covers (default echo). */
  setMode(answer: FakeModelScript): void {
    this.mode = toAnswer(answer);
  }
  /** The standing latency of every answer, in ms. */
  setLatency(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`latency must be ≥ 0 (got ${ms})`);
    this.latencyMs = ms;
  }
  /** Forgets recorded requests, scripts and counters; back to echo. */
  reset(): void {
    this.requests.length = 0;
    this.transcriptions.length = 0;
    this.imageParts.length = 0;
    this.transcriptionQueue = [];
    this.queue = [];
    this.mode = { kind: 'echo' };
    this._count = 0;
    this._connections = 0;
    this._maxConcurrent = this.inflight;
  }

  /** Drops every open connection (hanging requests included) and stops listening. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * `POST /v1/audio/transcriptions` (multipart, as OpenAI takes it): answers
   * `{text, language, duration}` after the transcription latency. Returns the
   * timer, for the caller to clear if the client goes away.
   */
  private async transcribe(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<NodeJS.Timeout | undefined> {
    let form: FormData;
    try {
      form = await new Response(new Uint8Array(raw), { headers: { 'content-type': String(req.headers['content-type'] ?? '') } }).formData();
    } catch {
      send(res, 400, JSON.stringify({ error: { message: 'not a multipart body', type: 'invalid_request_error' } }));
      return undefined;
    }
    const file = form.get('file');
    if (!(file instanceof Blob)) {
      send(res, 400, JSON.stringify({ error: { message: "'file' is required", type: 'invalid_request_error' } }));
      return undefined;
    }
    const filename = file instanceof File ? file.name : null;
    const model = form.get('model');
    if (this.record && this.transcriptions.length < MAX_RECORDED) {
      this.transcriptions.push({ model: typeof model === 'string' ? model : null, filename, mime: file.type || null, bytes: file.size, authorization: req.headers.authorization ?? null });
    }
    const answer = this.transcriptionQueue.shift() ?? `transcript of ${filename ?? 'audio'} (${file.size} bytes)`;
    const respond = () => {
      if (res.destroyed) return;
      if (typeof answer === 'number') return send(res, answer, JSON.stringify({ error: { message: `fake error ${answer}`, type: 'server_error' } }));
      send(res, 200, JSON.stringify({ text: answer, language: 'english', duration: Math.round(file.size / 160) / 100 }));
    };
    if (this.transcriptionLatencyMs > 0) return setTimeout(respond, this.transcriptionLatencyMs);
    respond();
    return undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this._count++;
    this.open.add(res);
    // Counted once the events that came with this request are handled, among the calls whose connection
    // is still open: a caller that aborted a call and then began the next one closed the old connection
    // first, but on a busy machine both can reach this process in the same turn of its event loop.
    setImmediate(() => {
      if (!this.open.has(res)) return;
      const n = this.inflight;
      if (n > this._maxConcurrent) this._maxConcurrent = n;
    });
    let timer: NodeJS.Timeout | undefined;
    res.on('close', () => {
      this.open.delete(res);
      clearTimeout(timer);
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    if (req.method === 'POST' && (req.url ?? '').split('?', 1)[0] === '/v1/audio/transcriptions') {
      req.on('end', () => {
        void this.transcribe(req, res, Buffer.concat(chunks)).then((t) => (timer = t));
      });
      return;
    }
    req.on('end', () => {
      const rawBody = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
      let body: any = null;
      try {
        body = rawBody ? JSON.parse(rawBody) : null;
      } catch {
        body = null;
      }
      const path = (req.url ?? '/').split('?', 1)[0];
      if (this.record) {
        if (this.requests.length >= MAX_RECORDED) this.requests.splice(0, MAX_RECORDED / 2);
        this.requests.push({ method: req.method ?? '', path, headers: req.headers, rawBody, body, at: Date.now() });
        if (this.imageParts.length < MAX_RECORDED) this.imageParts.push(...imageUrlsOf(body));
      }
      const route = req.method === 'POST' && path === '/v1/chat/completions' ? 'openai' : req.method === 'POST' && path === '/http-agent' ? 'http' : null;
      if (!route) return send(res, 404, JSON.stringify({ error: { message: `no route ${req.method} ${path}`, type: 'not_found' } }));
      if (body === null || typeof body !== 'object') {
        return send(res, 400, JSON.stringify({ error: { message: 'the body is not a JSON object', type: 'invalid_request_error' } }));
      }
      const answer = this.queue.shift() ?? this.mode;
      if (answer.kind === 'hang') return;
      const latency = answer.latencyMs ?? this.latencyMs;
      const n = ++this.seq;
      const respond = () => {
        if (res.destroyed) return;
        if (answer.kind === 'status') {
          return send(res, answer.status, answer.body ?? JSON.stringify({ error: { message: `fake error ${answer.status}`, type: 'server_error' } }));
        }
        if (answer.kind === 'garbage') return send(res, 200, '<html>this is not JSON{', 'text/html');
        send(res, 200, route === 'openai' ? openAiAnswer(body, answer, n) : httpAgentAnswer(body, answer));
      };
      if (latency > 0) timer = setTimeout(respond, latency);
      else respond();
    });
  }
}

/** The image URLs of a chat-completions body's content parts. */
function imageUrlsOf(body: any): string[] {
  const out: string[] = [];
  if (!body || !Array.isArray(body.messages)) return out;
  for (const m of body.messages) {
    if (!Array.isArray(m?.content)) continue;
    for (const p of m.content) if (p?.type === 'image_url' && typeof p.image_url?.url === 'string') out.push(p.image_url.url);
  }
  return out;
}

/** Starts a fake model on 127.0.0.1 (see FakeModel). */
export function startFakeModel(opts: FakeModelOptions = {}): Promise<FakeModel> {
  return FakeModel.start(opts);
}

function toAnswer(a: FakeModelScript): FakeModelAnswer {
  if (typeof a === 'number') return { kind: 'status', status: a };
  if (typeof a === 'string') return a === 'hang' ? { kind: 'hang' } : ({ kind: a } as FakeModelAnswer);
  return a;
}

function send(res: ServerResponse, status: number, body: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('');
  return '';
}

function lastUserText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === 'user') return textOf(messages[i].content);
  }
  return '';
}

type Answerable = Extract<FakeModelAnswer, { kind: 'echo' | 'reply' | 'handoff' | 'tool_calls' | 'tool_echo' | 'tool' }>;

function replyFor(answer: Answerable, lastUser: string, messages?: unknown): string | null {
  if (answer.kind === 'echo') return `echo: ${lastUser}`;
  if (answer.kind === 'tool_calls') return null;
  if (answer.kind === 'tool_echo') return `tool: ${lastToolText(messages)}`;
  if (answer.kind === 'tool') return answer.reply ?? null;
  return answer.reply ?? null;
}

function lastToolText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === 'tool') return textOf(messages[i].content);
  return '';
}

function openAiAnswer(body: any, answer: Answerable, n: number): string {
  const reply = replyFor(answer, lastUserText(body.messages), body.messages);
  const promptChars = Array.isArray(body.messages) ? body.messages.reduce((s: number, m: any) => s + textOf(m?.content).length, 0) : 0;
  const prompt = Math.ceil(promptChars / 4);
  const completion = Math.ceil((reply ?? '').length / 4);
  const message: Record<string, unknown> = { role: 'assistant', content: reply };
  if (answer.kind === 'tool_calls') {
    message.tool_calls = answer.calls.map((c, i) => ({
      id: `call_fake_${n}_${i}`,
      type: 'function',
      function: { name: c.name, arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments) },
    }));
  } else if (answer.kind === 'tool') {
    message.tool_calls = [{ id: `call_fake_${n}`, type: 'function', function: { name: answer.name, arguments: JSON.stringify(answer.args) } }];
  } else if (answer.kind === 'handoff') {
    message.tool_calls = [
      {
        id: `call_fake_${n}`,
        type: 'function',
        function: { name: 'handoff_to_human', arguments: JSON.stringify(answer.reason ? { reason: answer.reason } : {}) },
      },
    ];
  }
  return JSON.stringify({
    id: `chatcmpl-fake-${n}`,
    object: 'chat.completion',
    created: 1_700_000_000 + n,
    model: typeof body.model === 'string' ? body.model : 'fake',
    choices: [{ index: 0, message, finish_reason: answer.kind === 'handoff' || answer.kind === 'tool_calls' || answer.kind === 'tool' ? 'tool_calls' : 'stop' }],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  });
}

function httpAgentAnswer(body: any, answer: Answerable): string {
  if (answer.kind === 'tool' && answer.http) return JSON.stringify(answer.http);
  const reply = replyFor(answer, lastUserText(body.messages));
  return JSON.stringify(answer.kind === 'handoff' ? { reply, handoff: true } : { reply });
}

import { createHash } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import type { Db } from '../../db/db.ts';
import type { Bus } from '../../shared/bus.ts';
import { EgressRefusedError } from '../../shared/egress.ts';
import type { TenantTool } from '../../tenancy/tools.ts';
import { signAgentRequest, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../http.ts';
import type { ToolDefinition, ToolSession } from '../types.ts';
import { TOOL_CALL_BEGIN, TOOL_CALL_CLAIM, TOOL_CALL_FINISH, TOOL_CALL_INVALID } from './toolCalls.sql.ts';

/** The largest answer read from a tool endpoint; a larger one is an error. It is also the most kept for reuse. */
export const MAX_TOOL_RESULT_BYTES = 64 * 1024;
/** The longest arguments taken from the model, as JSON text; longer ones are refused unsent. */
export const MAX_ARGUMENTS_CHARS = 16_384;
/** The excerpt of a result kept for people (the API and the dashboard). */
export const TOOL_EXCERPT_CHARS = 2_048;

/** What a call came to. */
export type ToolCallStatus = 'ok' | 'error' | 'invalid_arguments' | 'timeout';

/** A call's outcome as this process knows it: its row, and the content the model is given. */
interface Outcome {
  id: string;
  turnId: string;
  content: string;
}

/** What one turn's session needs to know of the turn. */
export interface ToolTurn {
  tenantId: string;
  conversationId: string;
  /** The oldest unanswered customer message of the turn: the same in every restart of it. */
  openedBy: string;
  turnId: string;
  contact: { waId: string | null; userId: string | null; name: string | null };
}

/**
 * Calls tenant tools for the agent, and records each call (tool_calls)
 * before the model sees its result. Process-wide; everything about a turn
 * comes with `session(...)`.
 *
 * A call is never repeated because its turn restarted (docs/tools.md): a
 * call still running in this process is awaited by the restarted turn (the
 * turn's abort does not cancel it, so its result is recorded); one recorded
 * for the same unanswered messages is reused from its row; one left
 * `running` by a process that died is reported to the model as interrupted,
 * never called again. Tools marked safeToRepeat are called every time.
 */
export class ToolCaller {
  private readonly running = new Map<string, Promise<Outcome>>();

  constructor(
    private readonly db: Db,
    /** The dispatcher for a tenant's tool URLs: it applies the egress policy (docs/security.md). */
    private readonly dispatcherFor: (tenantId: string) => Dispatcher,
    /** Told of each call (`tool.call`), for the metrics. */
    private readonly bus: Bus | null = null,
  ) {}

  /** The tools of one turn, or null when there are none. */
  session(turn: ToolTurn, tools: readonly TenantTool[]): ToolSession | null {
    if (tools.length === 0) return null;
    const byName = new Map(tools.map((t) => [t.name, t]));
    const definitions: ToolDefinition[] = tools.map((t) => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
    return {
      definitions,
      has: (name) => byName.has(name),
      call: (name, raw, signal) => this.call(turn, byName.get(name), name, raw, signal),
    };
  }

  private async call(turn: ToolTurn, tool: TenantTool | undefined, name: string, raw: string, signal: AbortSignal): Promise<string> {
    signal.throwIfAborted();
    if (!tool) return errorContent(`there is no tool named ${name}`);
    if (raw.length > MAX_ARGUMENTS_CHARS) return this.invalid(turn, tool, JSON.stringify(raw.slice(0, 200) + '…'), `the arguments are longer than ${MAX_ARGUMENTS_CHARS} characters`);
    let args: unknown;
    try {
      args = raw.trim() === '' ? {} : JSON.parse(raw);
    } catch {
      return this.invalid(turn, tool, JSON.stringify(raw), 'the arguments are not valid JSON');
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) return this.invalid(turn, tool, JSON.stringify(args), 'the arguments must be a JSON object');
    if (!tool.validate(args)) return this.invalid(turn, tool, JSON.stringify(args), `invalid arguments: ${tool.errorsText(tool.validate.errors)}`);
    const canonical = canonicalJson(args);
    // PostgreSQL's jsonb holds no NUL character: such arguments could not be recorded, so they are not sent.
    if (canonical.includes('\\u0000')) return this.invalid(turn, tool, JSON.stringify(canonical.replaceAll('\\u0000', '')), 'the arguments must not contain NUL characters');
    const hash = createHash('sha256').update(tool.name).update('\0').update(canonical).digest('hex');
    if (tool.safeToRepeat) return (await this.execute(turn, tool, args, canonical, hash)).content;
    const key = `${turn.conversationId}:${turn.openedBy}:${tool.name}:${hash}`;
    const inFlight = this.running.get(key);
    if (inFlight) {
      const outcome = await inFlight;
      if (outcome.turnId !== turn.turnId) await this.db.query(TOOL_CALL_CLAIM, [outcome.id, turn.turnId]);
      this.emit(turn, tool.name, 'reused', 0);
      return outcome.content;
    }
    const p = this.execute(turn, tool, args, canonical, hash);
    this.running.set(key, p);
    // Forgotten once settled: from then on the row answers a restarted turn.
    p.then(
      () => this.running.delete(key),
      () => this.running.delete(key),
    );
    return (await p).content;
  }

  private async invalid(turn: ToolTurn, tool: TenantTool, argsJson: string, why: string): Promise<string> {
    const content = errorContent(why + '; the tool was not called. Correct the arguments and call it again.');
    const hash = createHash('sha256').update(argsJson).digest('hex');
    await this.db.query(TOOL_CALL_INVALID, [turn.tenantId, turn.conversationId, turn.openedBy, turn.turnId, tool.id, tool.name, argsJson, hash, content]);
    this.emit(turn, tool.name, 'invalid_arguments', 0);
    return content;
  }

  /** Begins (or finds) the call's row, calls the endpoint if it is new, records the outcome. */
  private async execute(turn: ToolTurn, tool: TenantTool, args: object, canonical: string, hash: string): Promise<Outcome> {
    const [begun] = await this.db.query<{ new_id: string | null; prior_id: string | null; prior_status: string | null; prior_result: string | null }>(TOOL_CALL_BEGIN, [
      turn.tenantId,
      turn.conversationId,
      turn.openedBy,
      turn.turnId,
      tool.id,
      tool.name,
      canonical,
      hash,
      tool.safeToRepeat,
    ]);
    if (!begun.new_id) {
      const content =
        begun.prior_status === 'running'
          ? errorContent('an earlier attempt of this call was interrupted and its result is unknown; it is not repeated')
          : (begun.prior_result ?? errorContent('the earlier result of this call was not kept'));
      this.emit(turn, tool.name, 'reused', 0);
      return { id: begun.prior_id!, turnId: turn.turnId, content };
    }
    const started = performance.now();
    const { status, content } = await this.post(turn, tool, args);
    const ms = Math.round(performance.now() - started);
    await this.db.query(TOOL_CALL_FINISH, [begun.new_id, status, ms, content.slice(0, TOOL_EXCERPT_CHARS), content]);
    this.emit(turn, tool.name, status, ms);
    return { id: begun.new_id, turnId: turn.turnId, content };
  }

  private emit(turn: ToolTurn, tool: string, status: ToolCallStatus | 'reused', ms: number): void {
    this.bus?.emit('tool.call', { tenantId: turn.tenantId, conversationId: turn.conversationId, tool, status, ms });
  }

  /** POSTs the call, signed as the http agent signs, within the tool's timeout; never throws. */
  private async post(turn: ToolTurn, tool: TenantTool, args: object): Promise<{ status: ToolCallStatus; content: string }> {
    const body = JSON.stringify({
      tool: tool.name,
      arguments: args,
      tenantId: turn.tenantId,
      conversationId: turn.conversationId,
      contact: turn.contact,
    });
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', [TIMESTAMP_HEADER]: String(timestamp) };
    if (tool.secret) headers[SIGNATURE_HEADER] = signAgentRequest(tool.secret, timestamp, body);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), tool.timeoutMs);
    try {
      const res = await request(tool.url, { method: 'POST', dispatcher: this.dispatcherFor(turn.tenantId), headers, body, signal: controller.signal });
      const text = await readCapped(res.body, MAX_TOOL_RESULT_BYTES);
      if (text === null) return { status: 'error', content: errorContent(`the tool answered more than ${MAX_TOOL_RESULT_BYTES} bytes`) };
      if (res.statusCode < 200 || res.statusCode >= 300) {
        return { status: 'error', content: errorContent(`the tool answered HTTP ${res.statusCode}`, text.slice(0, 500).replaceAll('\0', '')) };
      }
      // NUL cannot be stored in a text column; the rest of the answer is kept as it came.
      const clean = text.includes('\0') ? text.replaceAll('\0', '') : text;
      return { status: 'ok', content: clean.trim() === '' ? '{}' : clean };
    } catch (err) {
      if (controller.signal.aborted) return { status: 'timeout', content: errorContent(`the tool gave no answer within ${tool.timeoutMs} ms`) };
      if (err instanceof EgressRefusedError) return { status: 'error', content: errorContent(`the tool's address is refused: ${err.message}`) };
      const code = (err as { code?: unknown })?.code;
      return { status: 'error', content: errorContent(`the tool could not be reached${typeof code === 'string' ? ` (${code})` : ''}`) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A tool message the model can read as a failure. */
function errorContent(error: string, body?: string): string {
  return JSON.stringify(body === undefined ? { error } : { error, body });
}

/** The body as text, or null when it is larger than `max` bytes. */
async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      body.destroy();
      return null;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** JSON with object keys sorted at every depth: equal arguments hash equal, whatever order the model wrote them in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { ServerSupervisor, type SupervisionEvents } from '../../src/db/embeddedSupervisor.ts';
import { settle } from '../conversation/customers.ts';
import { eventually } from '../support/pipeline.ts';

/** A process that runs until killed, standing in for the postmaster. */
function server(): ChildProcess {
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  spawned.push(c);
  return c;
}
const spawned: ChildProcess[] = [];
const exited = (c: ChildProcess) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)));

function recorder() {
  const events: { kind: string; detail: Record<string, unknown> }[] = [];
  const hooks: SupervisionEvents = {
    exited: (e) => events.push({ kind: 'exited', detail: e }),
    restartFailed: (e) => events.push({ kind: 'failed', detail: { attempt: e.attempt, retryInMs: e.retryInMs, error: e.error.message } }),
    back: (e) => events.push({ kind: 'back', detail: { attempts: e.attempts } }),
  };
  return { events, hooks };
}

describe('ServerSupervisor', () => {
  afterAll(async () => {
    for (const c of spawned) c.kill('SIGKILL');
    await Promise.all(spawned.map(exited));
  });

  it('restarts a server that died, waiting longer after each failed start, and reports it back', async () => {
    const { events, hooks } = recorder();
    let launches = 0;
    const launch = async () => {
      launches++;
      if (launches <= 3) throw new Error(`start ${launches} failed`);
      return server();
    };
    const first = server();
    const sup = new ServerSupervisor(first, launch, hooks, { firstMs: 20, maxMs: 80, stableMs: 60_000 });
    first.kill('SIGKILL');
    await eventually(() => events.some((e) => e.kind === 'back'), 10_000, 'the server back');
    expect(events).toEqual([
      { kind: 'exited', detail: { code: null, signal: 'SIGKILL', restartInMs: 20 } },
      { kind: 'failed', detail: { attempt: 1, retryInMs: 40, error: 'start 1 failed' } },
      { kind: 'failed', detail: { attempt: 2, retryInMs: 80, error: 'start 2 failed' } },
      { kind: 'failed', detail: { attempt: 3, retryInMs: 80, error: 'start 3 failed' } },
      { kind: 'back', detail: { attempts: 4 } },
    ]);
    // It keeps dying soon after each start: the wait stays long.
    const second = spawned.at(-1)!;
    second.kill('SIGKILL');
    await eventually(() => events.filter((e) => e.kind === 'back').length === 2, 10_000, 'the server back again');
    expect(events[5]).toEqual({ kind: 'exited', detail: { code: null, signal: 'SIGKILL', restartInMs: 80 } });

    // Released, it hands over the running server and restarts nothing more.
    const running = await sup.release();
    expect(running).toBe(spawned.at(-1));
    running!.kill('SIGINT');
    await exited(running!);
    const count = events.length;
    const launched = launches;
    await settle(200); // long enough for a restart (20–80 ms) to have begun
    expect(events.length).toBe(count);
    expect(launches).toBe(launched);
  });

  it('released while a restart is under way, hands over the server that start brings up', async () => {
    const { events, hooks } = recorder();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let launching!: () => void;
    const launched = new Promise<void>((r) => (launching = r));
    const launch = async () => {
      launching();
      await gate;
      return server();
    };
    const first = server();
    const sup = new ServerSupervisor(first, launch, hooks, { firstMs: 1, maxMs: 1, stableMs: 60_000 });
    first.kill('SIGKILL');
    await launched;
    const released = sup.release();
    release();
    const running = await released;
    expect(running).not.toBeNull();
    expect(running).not.toBe(first);
    expect(events.map((e) => e.kind)).toEqual(['exited']);
  });
});

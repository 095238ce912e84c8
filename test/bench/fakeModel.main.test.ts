import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { OpenAiAgent } from '../../src/agent/openai.ts';
import { agentInput } from '../agent/agentInput.ts';

describe('fake model as a process of its own', () => {
  it('prints its URL, answers, and exits 0 on SIGTERM with its counts', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/fakeModel.main.ts', '--port', '0', '--latency-ms', '1'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    try {
      const first = JSON.parse((await lines.next()).value as string);
      expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(first.openaiBaseUrl).toBe(first.url + '/v1');
      const agent = new OpenAiAgent({ baseUrl: first.openaiBaseUrl, apiKey: null, model: 'm' });
      expect(await agent.run(agentInput())).toEqual({ reply: 'echo: hello', handoff: false });
      await agent.close();
      child.kill('SIGTERM');
      const last = JSON.parse((await lines.next()).value as string);
      expect(last).toEqual({ closed: true, count: 1, maxConcurrent: 1 });
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses a bad argument with exit code 2', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/fakeModel.main.ts', '--latency-ms', 'slow'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c) => (stderr += c));
    const [code] = await once(child, 'exit');
    expect(code).toBe(2);
    expect(stderr).toContain('--latency-ms');
  });
});

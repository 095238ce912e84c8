import { describe, expect, it } from 'vitest';
import { withDefaults } from '../../src/tenancy/agentConfig.ts';
import { clampAgent, clampText, modelsOnOperatorKey, resolveLimits, transcriptionModelsOnOperatorKey } from '../../src/tenancy/tenantLimits.ts';

const policy = { defaultModel: 'gpt-4o-mini', allowedModels: ['gpt-4o-mini', 'gpt-4o'] };
const limits = (l: Partial<Parameters<typeof resolveLimits>[0]> = {}) =>
  resolveLimits({ allowedModels: null, allowedTranscriptionModels: null, maxHistoryLength: null, maxSystemPromptChars: null, ...l });

describe('tenant limits', () => {
  it('defaults: 50 history messages, 8,000 prompt characters, the process list', () => {
    expect(limits()).toEqual({ allowedModels: null, allowedTranscriptionModels: null, maxHistoryLength: 50, maxSystemPromptChars: 8_000 });
    expect(modelsOnOperatorKey(limits(), policy)).toEqual(['gpt-4o-mini', 'gpt-4o']);
    expect(modelsOnOperatorKey(limits({ allowedModels: ['o1'] }), policy)).toEqual(['gpt-4o-mini', 'o1']);
  });

  it('clampAgent holds history, prompt and model to the limits, and leaves a value within them alone', () => {
    const agent = withDefaults({ provider: 'openai', model: 'o1', historyLength: 200, systemPrompt: 'x'.repeat(20_000) }, 'openai');
    const c = clampAgent(agent, false, limits({ maxHistoryLength: 5, maxSystemPromptChars: 10 }), policy);
    expect(c).toMatchObject({ model: null, historyLength: 5, systemPrompt: 'x'.repeat(10) });
    const within = withDefaults({ provider: 'openai', model: 'gpt-4o', historyLength: 3, systemPrompt: 'short' }, 'openai');
    expect(clampAgent(within, false, limits(), policy)).toEqual(within);
  });

  it("a model of the tenant's own key or base URL is never replaced", () => {
    const agent = withDefaults({ provider: 'openai', model: 'o1' }, 'openai');
    expect(clampAgent(agent, true, limits(), policy).model).toBe('o1');
    expect(clampAgent({ ...agent, baseUrl: 'http://127.0.0.1:11434/v1' }, false, limits(), policy).model).toBe('o1');
  });

  it('transcription models: the default always, then the tenant list or the process list; none without either', () => {
    const withT = { ...policy, defaultTranscriptionModel: 'whisper-1', allowedTranscriptionModels: ['gpt-4o-mini-transcribe'] };
    expect(transcriptionModelsOnOperatorKey(limits(), withT)).toEqual(['whisper-1', 'gpt-4o-mini-transcribe']);
    expect(transcriptionModelsOnOperatorKey(limits({ allowedTranscriptionModels: ['gpt-4o-transcribe'] }), withT)).toEqual(['whisper-1', 'gpt-4o-transcribe']);
    expect(transcriptionModelsOnOperatorKey(limits(), policy)).toEqual([]);
  });

  it('clampAgent turns a transcription model no longer allowed on the operator key back to the default, and leaves the rest', () => {
    const withT = { ...policy, defaultTranscriptionModel: 'whisper-1', allowedTranscriptionModels: [] };
    const picked = withDefaults({ provider: 'openai', transcriptionModel: 'gpt-4o-transcribe' }, 'openai');
    expect(clampAgent(picked, false, limits(), withT).transcriptionModel).toBeUndefined();
    expect(clampAgent(picked, false, limits({ allowedTranscriptionModels: ['gpt-4o-transcribe'] }), withT).transcriptionModel).toBe('gpt-4o-transcribe');
    // The openai provider's own key or URL transcribes there: any model; other providers transcribe on the operator's key.
    expect(clampAgent(picked, true, limits(), withT).transcriptionModel).toBe('gpt-4o-transcribe');
    expect(clampAgent({ ...picked, provider: 'http' }, true, limits(), withT).transcriptionModel).toBeUndefined();
    const off = withDefaults({ provider: 'openai', transcriptionModel: null }, 'openai');
    expect(clampAgent(off, false, limits(), withT).transcriptionModel).toBeNull();
    // '' stored means the default, as never set.
    expect(withDefaults({ transcriptionModel: '' }, 'openai').transcriptionModel).toBeUndefined();
  });

  it('clampText never leaves half of a surrogate pair', () => {
    expect(clampText('ab😀cd', 3)).toBe('ab');
    expect(clampText('ab😀cd', 4)).toBe('ab😀');
    expect(clampText('abc', 3)).toBe('abc');
  });
});

import { startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { SendLog } from './customers.ts';

/** What most conversation tests start with: a gateway that answers, its rows and what the Cloud API received. */
export interface ConversationTest {
  h: PipelineHarness;
  rows: ConversationRows;
  sends: SendLog;
}

export async function openConversationTest(opts?: Parameters<typeof startPipeline>[0]): Promise<ConversationTest> {
  const h = await startPipeline(opts);
  return { h, rows: await ConversationRows.open(h.gw.dbUrl), sends: new SendLog(h.cloud) };
}

/** Closes what openConversationTest opened (any part may be missing if it failed half-way). */
export async function closeConversationTest(t: Partial<ConversationTest>): Promise<void> {
  t.sends?.stop();
  await t.rows?.close();
  await t.h?.close();
}

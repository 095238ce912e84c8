/**
 * The event types a subscription may ask for (docs/events.md); `*` asks for
 * all, those added later included. The database triggers of
 * 013_events.sql write them.
 */
export const EVENT_TYPES = [
  'message.received',
  'message.sent',
  'message.status',
  'message.disposition',
  'conversation.paused',
  'conversation.resumed',
  'handoff.requested',
  'tool.called',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** Every type, in a subscription's `events`. */
export const ALL_EVENTS = '*';

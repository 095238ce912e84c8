import type { ReplyButton } from './interactive.ts';
import { parseChoice, parseTextForm, type ParsedTextForm } from './textForm.ts';
import type { Agent, AgentInput, AgentOutput } from './types.ts';

/** Longest first sentence of the system prompt quoted in a greeting; longer ones are cut with "…". */
const MAX_SENTENCE = 200;

const GREETING = /^\s*(hi|hello|hey|hola|good (morning|afternoon|evening))\b/i;
const HUMAN = /\b(human|person|agent|operator|representative|real people)\b/i;
const HOURS = /\b(opening hours|hours|open|opening|close|closing)\b/i;
const PRICE = /\b(price|prices|pricing|cost|costs|how much)\b/i;
const HELP = /\b(help|menu)\b/i;
/** "where is my order 1234", "order #1234?": an order number of 3 to 12 digits after the word order. */
const ORDER = /\border\b\D{0,20}?(\d{3,12})\b/i;

/** The tool the demo agent uses for order questions when the tenant has it (the sandbox's demo tool). */
export const DEMO_ORDER_TOOL = 'order_status';

const MEDIA_NAMES: Record<NonNullable<ParsedTextForm['kind']>, string> = {
  image: 'the image',
  video: 'the video',
  audio: 'the audio message',
  document: 'the document',
  sticker: 'the sticker',
  location: 'sharing your location',
  contacts: 'the contact card',
};

/** The demo's answer when the customer asks for a person (with `handoff: true`). */
export const DEMO_HANDOFF_REPLY = 'Of course. I am passing you to a person from our team; they will answer you here shortly.';
/** The demo's answer to opening hours. */
export const DEMO_HOURS_REPLY = 'We are open Monday to Friday from 9:00 to 18:00, and on Saturday from 10:00 to 14:00.';
/** The demo's answer to price questions. */
export const DEMO_PRICE_REPLY = 'Prices depend on what you need: tell me which product or service, and I will tell you more.';
/** The demo's answer to help: what it can do. */
export const DEMO_HELP_REPLY =
  'I am the demo agent. Try "hello", "opening hours", "price", "where is my order 1234", send a photo, or ask for a person. Connect a real model in the agent settings for real answers.';

/** The buttons the demo offers with a greeting or its help: its canned topics. */
export const DEMO_BUTTONS: readonly ReplyButton[] = Object.freeze([
  { id: 'hours', title: 'Opening hours' },
  { id: 'prices', title: 'Prices' },
  { id: 'human', title: 'Talk to a person' },
]);

/**
 * The first sentence of a system prompt: up to and including the first `.`,
 * `!` or `?` that ends a sentence, else the first line. Quoted verbatim in
 * the greeting, so that changing the prompt visibly changes the answers.
 */
export function firstSentence(prompt: string): string {
  const line = prompt.trim().split('\n', 1)[0].trim();
  const m = /^.*?[.!?](?=\s|$)/s.exec(line);
  const s = (m ? m[0] : line).trim();
  return s.length > MAX_SENTENCE ? s.slice(0, MAX_SENTENCE).trimEnd() + '…' : s;
}

/**
 * The `demo` provider: built in, offline and deterministic (no clock, no
 * randomness), for the sandbox and first steps. It greets (quoting the first
 * sentence of the system prompt), answers a few keywords (opening hours,
 * price, help), hands off when asked for a human, says what it received of
 * media (never more than the text form holds) and otherwise echoes. A greeting or help comes with buttons for those topics
 * (DEMO_BUTTONS), and a tapped button answers its topic. A turn of several messages gets one reply answering
 * each of them in order; the greeting comes once, first.
 */
export class DemoAgent implements Agent {
  async run(input: AgentInput): Promise<AgentOutput> {
    input.signal.throwIfAborted();
    const messages = input.turn.map((m) => m.content);
    const tools = input.config.maxToolRounds > 0 ? input.tools : null;
    const asked = tools?.has(DEMO_ORDER_TOOL) ? messages.findIndex((m) => ORDER.test(m)) : -1;
    if (asked < 0 || !tools) return demoAnswer(input.config.systemPrompt, messages);
    // An order question: look it up with the tenant's order_status tool, signed and recorded like a model's call.
    const orderId = ORDER.exec(messages[asked])![1];
    const result = await tools.call(DEMO_ORDER_TOOL, JSON.stringify({ orderId }), input.signal);
    const rest = demoAnswer(input.config.systemPrompt, messages.filter((_, i) => i !== asked));
    if (rest.handoff) return rest;
    // The rest keeps what it offers (a greeting's or the help's buttons).
    return { ...rest, reply: [orderReply(orderId, result), rest.reply].filter(Boolean).join('\n'), handoff: false };
  }
}

/** The demo's sentence for an order_status result (`{status, eta?}` or `{error}`). */
export function orderReply(orderId: string, result: string): string {
  let r: { status?: unknown; eta?: unknown; error?: unknown } = {};
  try {
    r = JSON.parse(result) ?? {};
  } catch {
    // Not JSON: said as a failure below.
  }
  if (typeof r.status === 'string') return `Order ${orderId}: ${r.status}${typeof r.eta === 'string' ? `, expected ${r.eta}` : ''}.`;
  return `I could not look up order ${orderId} right now; a person can check it for you.`;
}

/** The demo agent's answer to a turn's messages (pure: the same input gives the same output). */
export function demoAnswer(systemPrompt: string, messages: readonly string[]): AgentOutput {
  if (messages.length === 0) return { reply: null, handoff: false };
  let greet = false;
  let menu = false;
  const parts: string[] = [];
  for (const message of messages) {
    // A tapped button: its id says which topic; another tap (a template's quick reply) is read as its title.
    const choice = parseChoice(message);
    const content = choice ? choice.title : message;
    if (choice?.id === 'human') return { reply: DEMO_HANDOFF_REPLY, handoff: true };
    if (choice?.id === 'hours' || choice?.id === 'prices') {
      parts.push(choice.id === 'hours' ? DEMO_HOURS_REPLY : DEMO_PRICE_REPLY);
      continue;
    }
    const form = parseTextForm(content);
    if (form.kind === null && HUMAN.test(content)) return { reply: DEMO_HANDOFF_REPLY, handoff: true };
    if (form.kind !== null) {
      parts.push(mediaAnswer(form));
      continue;
    }
    const text = content.trim();
    const isGreeting = GREETING.test(text);
    greet ||= isGreeting;
    const answers: string[] = [];
    if (HOURS.test(text)) answers.push(DEMO_HOURS_REPLY);
    if (PRICE.test(text)) answers.push(DEMO_PRICE_REPLY);
    if (HELP.test(text)) answers.push(DEMO_HELP_REPLY);
    menu ||= HELP.test(text);
    if (answers.length) parts.push(...answers);
    else if (!isGreeting || !isBareGreeting(text)) parts.push(`You said: "${text}"`);
  }
  if (greet) parts.unshift(greeting(systemPrompt));
  const reply = parts.join('\n');
  // A greeting or the help offers the topics as buttons (the reply goes out as text with them numbered if it is too long for a button message).
  return greet || menu ? { reply, handoff: false, choice: { kind: 'buttons', buttons: DEMO_BUTTONS.map((b) => ({ ...b })) } } : { reply, handoff: false };
}

/** Words of a PDF's text quoted in the answer. */
const FIRST_WORDS = 12;

/**
 * The answer to a media message: what was really received, as the text form
 * says it (type, file name, size, duration or page count, a PDF's first
 * words, a voice note's transcript when there is one), never more.
 */
function mediaAnswer(form: ParsedTextForm): string {
  const kind = form.kind!;
  const thanks = `Thanks for ${MEDIA_NAMES[kind]}${form.text ? ` ("${form.text}")` : ''}.`;
  if (form.unavailable) return `${thanks} I could not open it (${form.unavailable.replace(/_/g, ' ')}), but a person can look into it.`;
  if (form.facts.length === 0 && !form.transcript && !form.excerpt) return `${thanks} I can't look at it, but a person can if you need.`;
  const said: string[] = [thanks];
  if (form.facts.length) said.push(`I received ${form.facts.join(', ')}.`);
  if (kind === 'audio') said.push(form.transcript ? `I heard: "${form.transcript}"` : 'I have no transcript of it.');
  if (form.excerpt) {
    const words = form.excerpt.split(/\s+/);
    said.push(`It begins: "${words.slice(0, FIRST_WORDS).join(' ')}${words.length > FIRST_WORDS ? '…' : ''}"`);
  }
  return said.join(' ');
}

/** "hi", "hello there", "hola Ava!": a greeting with at most one word after it says nothing more to answer. */
function isBareGreeting(text: string): boolean {
  const rest = text.replace(GREETING, '').replace(/[\p{P}\p{S}]+/gu, ' ').trim();
  return rest === '' || !/\s/.test(rest);
}

function greeting(systemPrompt: string): string {
  const sentence = firstSentence(systemPrompt);
  return sentence ? `Hello! I'm the demo assistant, and my instructions begin: "${sentence}" How can I help you?` : 'Hello! How can I help you?';
}

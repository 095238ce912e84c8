// A hostile tenant's own Meta app, in a process of its own: posts full
// notifications (signed with the channel's app secret) on the channel's
// webhook URL from several clients, each as soon as its last one is
// answered, until it is killed. Prints one line of JSON per answer status
// count when told "report" on stdin, and "flooding" after its first answer.
import { createHmac, randomBytes } from 'node:crypto';

const [url, secret, phoneNumberId, clientsArg, updatesArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const updates = Number(updatesArg);
const statuses = {};
let announced = false;

function body(round) {
  const senders = 200;
  const ts = String(Math.floor(Date.now() / 1000));
  const messages = Array.from({ length: updates }, (_, i) => ({
    from: `1555f${String(i % senders).padStart(6, '0')}`,
    id: `wamid.F${round}x${i}x${randomBytes(6).toString('hex')}`,
    timestamp: ts,
    type: 'text',
    text: { body: `flood ${round} ${i}` },
  }));
  const contacts = Array.from({ length: senders }, (_, i) => ({ profile: { name: `Flood ${i}` }, wa_id: `1555f${String(i).padStart(6, '0')}` }));
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: 'WABA-FLOOD', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '1', phone_number_id: phoneNumberId }, contacts, messages } }] }],
  });
}

let round = 0;
async function client() {
  for (;;) {
    const raw = body(round++);
    const signature = 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body: raw });
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      if (res.status === 200 && !announced) {
        announced = true;
        process.stdout.write('flooding\n');
      }
    } catch {
      statuses.error = (statuses.error ?? 0) + 1;
    }
  }
}

process.stdin.on('data', () => process.stdout.write(JSON.stringify(statuses) + '\n'));
for (let i = 0; i < clients; i++) void client();

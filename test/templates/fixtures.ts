import type { SimTemplate } from '../../src/sandbox/cloudApiSimulator.ts';

/** The templates of the tests' WhatsApp Business Account: one of each shape, and fillers past a page. */
export function testTemplates(fillers = 0): SimTemplate[] {
  const list: SimTemplate[] = [
    {
      id: '1001',
      name: 'order_update',
      language: 'en_US',
      status: 'APPROVED',
      category: 'UTILITY',
      parameter_format: 'POSITIONAL',
      components: [
        { type: 'BODY', text: 'Hi {{1}}, your order {{2}} is ready.' },
        { type: 'BUTTONS', buttons: [{ type: 'QUICK_REPLY', text: 'Track it' }, { type: 'QUICK_REPLY', text: 'Talk to us' }] },
      ],
    },
    {
      id: '1002',
      name: 'welcome_back',
      language: 'en_US',
      status: 'APPROVED',
      category: 'MARKETING',
      parameter_format: 'NAMED',
      components: [{ type: 'HEADER', format: 'TEXT', text: 'Hello {{first_name}}' }, { type: 'BODY', text: 'We kept your cart, {{first_name}}: {{items}} items.' }],
    },
    {
      id: '1003',
      name: 'invoice_ready',
      language: 'en_US',
      status: 'APPROVED',
      category: 'UTILITY',
      parameter_format: 'POSITIONAL',
      components: [{ type: 'HEADER', format: 'DOCUMENT' }, { type: 'BODY', text: 'Your invoice {{1}} is attached.' }],
    },
    { id: '1004', name: 'spring_sale', language: 'en_US', status: 'PENDING', category: 'MARKETING', parameter_format: 'POSITIONAL', components: [{ type: 'BODY', text: 'Spring sale!' }] },
  ];
  for (let i = 0; i < fillers; i++) {
    list.push({ id: String(2000 + i), name: `filler_${String(i).padStart(2, '0')}`, language: 'es', status: 'APPROVED', category: 'UTILITY', parameter_format: 'POSITIONAL', components: [{ type: 'BODY', text: 'Hola' }] });
  }
  return list;
}

/** Templates with a button whose URL takes a parameter, and with a location header. */
export function gapTemplates(): SimTemplate[] {
  return [
    {
      id: '1101',
      name: 'track_parcel',
      language: 'en_US',
      status: 'APPROVED',
      category: 'UTILITY',
      parameter_format: 'POSITIONAL',
      components: [
        { type: 'BODY', text: 'Your parcel {{1}} is on its way.' },
        {
          type: 'BUTTONS',
          buttons: [
            { type: 'QUICK_REPLY', text: 'Thanks' },
            { type: 'URL', text: 'Track it', url: 'https://shop.example.com/track/{{1}}', example: ['https://shop.example.com/track/P-1'] },
            { type: 'URL', text: 'Our shop', url: 'https://shop.example.com/' },
          ],
        },
      ],
    },
    {
      id: '1102',
      name: 'pickup_point',
      language: 'en_US',
      status: 'APPROVED',
      category: 'UTILITY',
      parameter_format: 'NAMED',
      components: [{ type: 'HEADER', format: 'LOCATION' }, { type: 'BODY', text: 'Pick up order {{order}} here.' }],
    },
  ];
}

/**
 * The layering of wagate's code, checked by test/architecture.test.ts (and by
 * `npx depcruise src bench bin`). In one sentence: the message path (webhook,
 * ingest, conversation, agent, outbound) and the ground floor (tenancy, db,
 * config, shared) never import what sits on top of them (api, dashboard,
 * sandbox, metrics, app, cli); app alone wires everything together, cli alone
 * starts it; nothing shipped imports the tests; and no module imports itself
 * back through others, type-only imports included.
 */
// events: the delivery of event webhooks, beside the message path (it reads the rows the stages' triggers write).
const STAGES = 'webhook|ingest|conversation|agent|outbound|events|media';
const GROUND = 'tenancy|db|config|shared';
const UPPER = 'app|api|dashboard|sandbox|metrics|cli';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'An import cycle (type-only imports count): two modules that cannot be understood one without the other.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'message-path-stays-below',
      comment: 'The stages of the message path and the ground floor never import the floors above them.',
      severity: 'error',
      from: { path: `^src/(${STAGES}|${GROUND})/` },
      to: { path: `^src/(${UPPER})/` },
    },
    {
      name: 'ground-floor-stays-below',
      comment: 'tenancy, db, config and shared serve the stages; they never import a stage.',
      severity: 'error',
      from: { path: `^src/(${GROUND})/` },
      to: { path: `^src/(${STAGES})/` },
    },
    {
      name: 'only-cli-imports-app',
      comment: 'src/app is the top floor: it imports the others, and only the command line (and the tests and benchmark) import it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(app|cli)/' },
      to: { path: '^src/app/' },
    },
    {
      name: 'only-the-entry-imports-cli',
      comment: 'The command line is the entry point; nothing in src below it imports it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'shipped-code-never-imports-tests',
      comment: 'src, bench and bin ship; test does not.',
      severity: 'error',
      from: { path: '^(src|bench|bin)/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    // Type-only imports are dependencies too: a cycle through types is still a cycle.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};

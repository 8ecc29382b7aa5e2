// The dependency rule (issue 15): imports point down, from the entry points (functions/, local/, bin/, lib/)
// to the layers, never back up and never in a loop. `npm run deps` checks it; `npm test` runs that.
/** A forbidden import: each is an error, which `npm run deps` names with the offending import. */
const forbid = (name, comment, from, to) => ({ name, comment, severity: 'error', from, to });

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    forbid(
      'layers-import-no-entry-point',
      'Code under layers/ sees ports and data: the entry points (functions/, local/, bin/, lib/) assemble the concrete parts and pass them in.',
      { path: '^layers/' },
      { path: '^(local|functions|bin|lib|bench|test)/' },
    ),
    forbid(
      'domain-imports-no-runtime',
      'The domain knows nothing of Lambda plumbing: it is given its ports.',
      { path: '^layers/domain/' },
      { path: '^layers/runtime/' },
    ),
    forbid(
      'runtime-imports-no-domain',
      'The runtime is plumbing shared by the handlers: it calls no domain code.',
      { path: '^layers/runtime/' },
      { path: '^layers/domain/' },
    ),
    forbid(
      'shared-plumbing-imports-no-domain-or-runtime',
      'layers/messaging and layers/log are what the domain and the runtime share: they import neither.',
      { path: '^layers/(messaging|log)/' },
      { path: '^layers/(domain|runtime)/' },
    ),
    forbid(
      'layers-have-no-cycle',
      'A loop makes two modules one: the load order decides what is defined.',
      { path: '^layers/' },
      { circular: true },
    ),
    forbid(
      'not-to-unresolvable',
      'An import the rule cannot follow is an import it cannot check.',
      {},
      { couldNotResolve: true },
    ),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|cdk\\.out|\\.testbed)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};

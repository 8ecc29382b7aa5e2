// The dependency rule (issue 15): imports point down, from the entry points (functions/, local/, bin/, lib/)
// to the layers, never back up and never in a loop. `npm run deps` checks it; `npm test` runs that.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'layers-import-no-entry-point',
      comment:
        'Code under layers/ sees ports and data: the entry points (functions/, local/, bin/, lib/) assemble the concrete parts and pass them in.',
      severity: 'error',
      from: { path: '^layers/' },
      to: { path: '^(local|functions|bin|lib|bench|test)/' },
    },
    {
      name: 'domain-imports-no-runtime',
      comment: 'The domain knows nothing of Lambda plumbing: it is given its ports.',
      severity: 'error',
      from: { path: '^layers/domain/' },
      to: { path: '^layers/runtime/' },
    },
    {
      name: 'runtime-imports-no-domain',
      comment: 'The runtime is plumbing shared by the handlers: it calls no domain code.',
      severity: 'error',
      from: { path: '^layers/runtime/' },
      to: { path: '^layers/domain/' },
    },
    {
      name: 'shared-plumbing-imports-no-domain-or-runtime',
      comment:
        'layers/messaging and layers/log are what the domain and the runtime share: they import neither.',
      severity: 'error',
      from: { path: '^layers/(messaging|log)/' },
      to: { path: '^layers/(domain|runtime)/' },
    },
    {
      name: 'layers-have-no-cycle',
      comment: 'A loop makes two modules one: the load order decides what is defined.',
      severity: 'error',
      from: { path: '^layers/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import the rule cannot follow is an import it cannot check.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
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

// as-pect: AssemblyScript unit tests for the pure filter modules (encoders,
// address parser, config parser, JSON reader, context map). Run through
// tests/aspect.test.mjs, which passes this directory's as-pect.asconfig.json by
// absolute path.
export default {
  // PPV2_ASPECT_SPEC narrows a run to one file (tests/aspect.test.mjs runs one
  // subtest per spec file this way).
  entries: [process.env.PPV2_ASPECT_SPEC || 'tests/assembly/**/*.spec.ts'],
  include: ['tests/assembly/**/*.include.ts'],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};

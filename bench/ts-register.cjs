// Lets `node -r ./bench/ts-register.cjs bench/run.ts` run the TypeScript benchmark and the test harnesses it
// imports without a compile step: every `.ts` file is transpiled (types stripped, no type check) by esbuild
// to CommonJS when required. Type checking of bench/ is done by `tsc` like the rest of the project.
'use strict';
const fs = require('node:fs');
const esbuild = require('esbuild');

require.extensions['.ts'] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = esbuild.transformSync(source, {
    loader: 'ts',
    format: 'cjs',
    target: 'node20',
    sourcefile: filename,
    sourcemap: 'inline',
  });
  module._compile(code, filename);
};

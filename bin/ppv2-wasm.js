#!/usr/bin/env node
// The CLI is TypeScript compiled to dist/ by `npm run build`.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));

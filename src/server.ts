/**
 * `npm start` (node dist/server.js): the service as src/service-main.ts runs it, from the environment
 * (HS_TROPONIN_CDS_SETTINGS, HOST, PORT). `npx hs-troponin-cds dev` runs the same with the local
 * development client trusted (src/dev/dev-command.ts).
 */
import { runService } from './service-main.js';

await runService({ env: process.env });

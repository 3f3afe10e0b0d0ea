// The worker thread of bench/trail/parallel.ts: registers tsx's loader in this thread, then runs worker.ts.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');

// The `skvq` executable (tsup adds the #!/usr/bin/env node banner).
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // main() never throws; this is a last resort for a bug in the CLI itself
    console.error(error);
    process.exitCode = 1;
  },
);

// TypeScript types for a client of the API, generated from the OpenAPI document with openapi-typescript
// (use them with openapi-fetch, or any client that takes openapi-typescript's `paths`):
//   bun scripts/openapi-types.ts http://localhost:3000/swagger/json > api.d.ts
// The argument is the document's URL or a file; the types go to stdout.
import { dirname } from "node:path";

// openapi-typescript prints with TypeScript 5's compiler API; the project's own tsc is TypeScript 7 (a
// native binary without that API), and Bun installs one "typescript" for all. Its modules import
// "typescript" by name: as they load, that name is pointed at the TypeScript 5 kept beside (devDependency typescript5).
const ts5 = JSON.stringify(Bun.resolveSync("typescript5", dirname(import.meta.dir)));
Bun.plugin({
  name: "openapi-typescript takes typescript 5",
  setup(build) {
    build.onLoad({ filter: /\/node_modules\/openapi-typescript\/dist\/.*\.mjs$/ }, async ({ path }) => ({
      contents: (await Bun.file(path).text()).replaceAll("from 'typescript'", `from ${ts5}`),
      loader: "js",
    }));
  },
});
const { default: openapiTS, astToString } = await import("openapi-typescript");

const source = process.argv[2];
if (!source) {
  console.error("usage: bun scripts/openapi-types.ts <url or file of the OpenAPI document>");
  process.exit(2);
}
const text = /^https?:\/\//.test(source) ? await (await fetch(source)).text() : await Bun.file(source).text();
process.stdout.write(astToString(await openapiTS(JSON.parse(text))));

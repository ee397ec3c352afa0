// Opens each package's page of the API reference with the `description` of its package.json (the pages
// are generated without the package READMEs, which link to files outside the reference).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Comment, RendererEvent } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  const descriptions = new Map();
  for (const dir of readdirSync('packages')) {
    const manifest = JSON.parse(readFileSync(join('packages', dir, 'package.json'), 'utf8'));
    descriptions.set(manifest.name, manifest.description);
  }
  app.renderer.on(RendererEvent.BEGIN, (event) => {
    for (const pkg of event.project.children ?? []) {
      const description = descriptions.get(pkg.name);
      if (description && !pkg.hasComment()) {
        pkg.comment = new Comment([{ kind: 'text', text: description }]);
      }
    }
  });
}

// Composes a Federation 2 supergraph with @apollo/composition. As a module:
// supergraphOf(subgraphs) asks each subgraph for its SDL (_service { sdl }).
// As a script: `node compose.mjs name=file.graphql@url ...` composes SDL files
// and prints {"supergraphSdl": ...}, or the composition errors and exits 1.
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';

export function compose(services) {
  const result = composeServices(
    services.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })),
  );
  if (result.errors) {
    throw new Error(result.errors.map((e) => `${e.extensions?.code ?? ''} ${e.message}`).join('\n'));
  }
  return result.supergraphSdl;
}

export async function supergraphOf(subgraphs) {
  const services = await Promise.all(
    subgraphs.map(async ({ name, url }) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ _service { sdl } }' }),
      });
      const body = await response.json();
      if (!body.data?._service) throw new Error(`${name} gave no SDL: ${JSON.stringify(body)}`);
      return { name, url, sdl: body.data._service.sdl };
    }),
  );
  return compose(services);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const services = await Promise.all(
      process.argv.slice(2).map(async (arg) => {
        const [name, rest] = arg.split('=');
        const [file, url] = rest.split('@');
        return { name, url, sdl: await readFile(file, 'utf8') };
      }),
    );
    console.log(JSON.stringify({ supergraphSdl: compose(services) }));
  } catch (error) {
    console.error(`composition failed:\n${error.message}`);
    process.exit(1);
  }
}

// An Apollo Federation gateway over the subgraphs given as name=url arguments.
// Prints {"url": ...} once it has composed the supergraph; exits non-zero when
// composition fails. Forwards the client's Authorization header to subgraphs.
// With GATEWAY_SUBGRAPH_TRACES=1 it asks every subgraph for its federated
// trace (ftv1), as usage reporting would, and answers with what it decoded
// under extensions.subgraphTraces: what a test can see of the traces.
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

const subgraphs = process.argv.slice(2).map((arg) => {
  const [name, url] = arg.split('=');
  return { name, url };
});

class ForwardAuthorization extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context.authorization) {
      request.http.headers.set('authorization', context.authorization);
    }
  }
}

// The fetch nodes of the query plan's trace, in plan order.
function fetches(node, found = []) {
  if (!node) return found;
  if (node.fetch) found.push(node.fetch);
  for (const child of [...(node.sequence?.nodes ?? []), ...(node.parallel?.nodes ?? [])]) {
    fetches(child, found);
  }
  fetches(node.flatten?.node, found);
  return found;
}

function timedFields(traceNode, path = []) {
  return (traceNode?.child ?? []).flatMap((child) => {
    const here = [...path, child.responseName || String(child.index)];
    const errors = (child.error ?? []).map((e) => e.message);
    return [{ path: here.join('.'), durationNs: Number(child.endTime) - Number(child.startTime), errors }, ...timedFields(child, here)];
  });
}

const subgraphTraces = {
  async requestDidStart({ metrics }) {
    // What the usage reporting plugin sets when it samples a request: the
    // gateway then sends apollo-federation-include-trace: ftv1 and decodes.
    metrics.captureTraces = true;
    return {
      async willSendResponse({ metrics, response }) {
        if (response.body.kind !== 'single') return;
        const traces = fetches(metrics.queryPlanTrace).map((fetch) => ({
          subgraph: fetch.serviceName,
          decoded: Boolean(fetch.trace) && !fetch.traceParsingFailed,
          durationNs: fetch.trace ? Number(fetch.trace.durationNs) : null,
          fields: fetch.trace ? timedFields(fetch.trace.root) : [],
        }));
        const result = response.body.singleResult;
        result.extensions = { ...result.extensions, subgraphTraces: traces };
      },
    };
  },
};

const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({ subgraphs }),
  buildService: ({ url }) => new ForwardAuthorization({ url }),
});
const server = new ApolloServer({
  gateway,
  plugins: process.env.GATEWAY_SUBGRAPH_TRACES === '1' ? [subgraphTraces] : [],
});
try {
  const { url } = await startStandaloneServer(server, {
    // Loopback and a free port for the tests; docker-compose.yml sets both.
    listen: {
      host: process.env.GATEWAY_HOST ?? '127.0.0.1',
      port: Number(process.env.GATEWAY_PORT ?? 0),
    },
    context: async ({ req }) => ({ authorization: req.headers.authorization }),
  });
  console.log(JSON.stringify({ url }));
} catch (error) {
  console.error(`gateway failed: ${error.message}`);
  process.exit(1);
}
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, async () => {
    await server.stop();
    process.exit(0);
  });
}

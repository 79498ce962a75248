// A Hive Gateway over the subgraphs given as name=url arguments, composed at
// start with @apollo/composition from their _service { sdl }. Prints
// {"url": ...} once it listens; exits non-zero when composition fails.
// Queries and mutations go to the subgraphs over HTTP with the client's
// Authorization header; subscriptions over graphql-ws (graphql-transport-ws),
// with the client's connection_init Authorization passed on in the
// subgraph's connection_init.
import { Console } from 'node:console';
import { createServer } from 'node:http';
import {
  ConsoleLogWriter,
  createGatewayRuntime,
  getGraphQLWSOptions,
  Logger,
} from '@graphql-hive/gateway-runtime';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { supergraphOf } from './compose.mjs';

const subgraphs = process.argv.slice(2).map((arg) => {
  const [name, url] = arg.split('=');
  return { name, url };
});

let supergraph;
try {
  supergraph = await supergraphOf(subgraphs);
} catch (error) {
  console.error(`gateway failed: ${error.message}`);
  process.exit(1);
}

// The token of an HTTP client's header, or of a websocket client's connection_init.
function authorization({ request, context }) {
  return request?.headers.get('authorization') ?? context?.connectionParams?.Authorization;
}

const gateway = createGatewayRuntime({
  supergraph,
  graphqlEndpoint: '/graphql',
  // Its log on stderr: stdout is for the line that says where it listens.
  logging: new Logger({
    level: process.env.GATEWAY_LOG_LEVEL ?? 'warn',
    writers: [new ConsoleLogWriter({ console: new Console(process.stderr), noColor: true })],
  }),
  propagateHeaders: {
    fromClientToSubgraphs(payload) {
      const token = authorization(payload);
      return token ? { authorization: token } : {};
    },
  },
  transportEntries: {
    // Every subgraph: subscriptions over graphql-ws at its own URL.
    '*.http': {
      options: {
        subscriptions: {
          kind: 'ws',
          options: {
            connectionParams: { Authorization: '{context.connectionParams.Authorization}' },
          },
        },
      },
    },
  },
});

const server = createServer(gateway);
const sockets = new WebSocketServer({ server, path: gateway.graphqlEndpoint });
useServer(
  getGraphQLWSOptions(gateway, (ctx) => ({ req: ctx.extra?.request, socket: ctx.extra?.socket })),
  sockets,
);
// Loopback and a free port for the tests.
const host = process.env.GATEWAY_HOST ?? '127.0.0.1';
server.listen(Number(process.env.GATEWAY_PORT ?? 0), host, () => {
  const { port } = server.address();
  console.log(JSON.stringify({ url: `http://${host}:${port}${gateway.graphqlEndpoint}` }));
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    sockets.close();
    server.close();
    gateway.dispose?.();
    process.exit(0);
  });
}

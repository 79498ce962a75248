// An Apollo Federation gateway over the subgraphs given as name=url arguments.
// Prints {"url": ...} once it has composed the supergraph; exits non-zero when
// composition fails. Forwards the client's Authorization header to subgraphs.
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

const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({ subgraphs }),
  buildService: ({ url }) => new ForwardAuthorization({ url }),
});
const server = new ApolloServer({ gateway });
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

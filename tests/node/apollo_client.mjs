// Apollo Client used as a frontend uses it, against a live shopgraph server.
// One scenario per run; prints one JSON object of what it saw (every HTTP
// request the client made, through a recording fetch, and the results), which
// tests/test_apollo_client.py asserts on. Exits non-zero with a message on
// stderr when a step fails or the whole run takes longer than 60 s.
//
//   SHOPGRAPH_URL=http://127.0.0.1:PORT/graphql [ADMIN_TOKEN=...] [CUSTOMER_TOKEN=...] \
//     node apollo_client.mjs cache|mutation|apq|subscription
import { createHash } from 'node:crypto';

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import { WebSocket } from 'ws';

const scenario = process.argv[2];
const url = process.env.SHOPGRAPH_URL;
const adminToken = process.env.ADMIN_TOKEN;
const customerToken = process.env.CUSTOMER_TOKEN;
const productId = process.env.PRODUCT_ID ?? 'mug';

function fail(message) {
  console.error(`apollo_client.mjs ${scenario}: ${message}`);
  process.exit(1);
}

if (!url) fail('SHOPGRAPH_URL is not set');
setTimeout(() => fail('did not finish within 60 s'), 60_000).unref();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, check, within = 10_000) {
  const deadline = Date.now() + within;
  while (!check()) {
    if (Date.now() > deadline) fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// A fetch that records each request the client makes: method, URL and the
// GraphQL payload (from the JSON body of a POST, from the URL of a GET), and
// the response's status once it comes.
function recordingFetch(log) {
  return async (input, init = {}) => {
    const method = (init.method ?? 'GET').toUpperCase();
    const target = new URL(String(input));
    let payload;
    if (method === 'GET') {
      payload = {};
      for (const [key, value] of target.searchParams) {
        payload[key] = key === 'variables' || key === 'extensions' ? JSON.parse(value) : value;
      }
    } else {
      payload = JSON.parse(init.body);
    }
    const entry = { method, url: target.href, payload, status: null };
    log.push(entry);
    const response = await fetch(input, init);
    entry.status = response.status;
    return response;
  };
}

// Normalized by id; `product(id)` and `order(id)` look in the cache for the
// entity first (a cache redirect), as an app's detail pages would.
function cache() {
  const byId = (typename) => (existing, { args, toReference }) =>
    existing ?? toReference({ __typename: typename, id: args.id });
  return new InMemoryCache({
    typePolicies: {
      Product: { keyFields: ['id'] },
      Order: { keyFields: ['id'] },
      User: { keyFields: ['id'] },
      Query: { fields: { product: { read: byId('Product') }, order: { read: byId('Order') } } },
    },
  });
}

function httpLink(log, token) {
  return new HttpLink({
    uri: url,
    fetch: recordingFetch(log),
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
}

function client(link) {
  return new ApolloClient({ link, cache: cache() });
}

// The results a watched query delivers, complete ones only.
function watch(apolloClient, options) {
  const seen = [];
  const subscription = apolloClient.watchQuery(options).subscribe({
    next: (result) => {
      if (result.error) fail(`watched query failed: ${result.error.message}`);
      if (result.dataState === 'complete') seen.push(result.data);
    },
    error: (error) => fail(`watched query failed: ${error.message}`),
  });
  return { seen, stop: () => subscription.unsubscribe() };
}

const PRODUCT = gql`
  query Product($id: ID!) {
    product(id: $id) {
      id
      name
      price
    }
  }
`;

const CATEGORY = gql`
  query Category($category: String!) {
    productsByCategory(category: $category) {
      nodes {
        id
        name
        price
      }
    }
  }
`;

// 1. Two identical queries: one request. Then a list page, after which another
// product's page is answered from the normalized cache without a request.
async function cacheScenario() {
  const requests = [];
  const apollo = client(httpLink(requests, customerToken));
  const first = await apollo.query({ query: PRODUCT, variables: { id: productId } });
  const second = await apollo.query({ query: PRODUCT, variables: { id: productId } });
  const afterTwo = requests.length;
  const list = await apollo.query({ query: CATEGORY, variables: { category: 'kitchen' } });
  const shown = first.data.product.id; // the id the API answers, not the one asked by
  const others = list.data.productsByCategory.nodes.filter((p) => p.id !== shown);
  if (others.length === 0) fail('the category has no other product');
  const other = await apollo.query({ query: PRODUCT, variables: { id: others[0].id } });
  return {
    requests,
    requestsAfterTwoQueries: afterTwo,
    first: first.data,
    second: second.data,
    listed: list.data.productsByCategory.nodes.map((p) => p.id),
    other: other.data,
    cacheIds: Object.keys(apollo.cache.extract()).sort(),
  };
}

const UPDATE_PRODUCT = gql`
  mutation UpdateProduct($id: ID!, $input: UpdateProductInput!) {
    updateProduct(id: $id, input: $input) {
      id
      name
      price
    }
  }
`;

// 2. An admin's product page is open (a watched query); the admin changes the
// price and name: the page shows the new values with no request but the mutation.
async function mutationScenario() {
  if (!adminToken) fail('ADMIN_TOKEN is not set');
  const requests = [];
  const apollo = client(httpLink(requests, adminToken));
  const page = watch(apollo, { query: PRODUCT, variables: { id: productId } });
  await until('the product page', () => page.seen.length >= 1);
  const input = { price: '9.75', name: 'Mug (large)' };
  const mutated = await apollo.mutate({
    mutation: UPDATE_PRODUCT,
    variables: { id: productId, input },
  });
  const shown = () => page.seen.at(-1).product.price === '9.75';
  await until('the page to show the new price', shown, 5000);
  page.stop();
  const read = apollo.readQuery({ query: PRODUCT, variables: { id: productId } });
  const cacheOnly = await apollo.query({
    query: PRODUCT,
    variables: { id: productId },
    fetchPolicy: 'cache-only',
  });
  return {
    requests,
    watched: page.seen.map((d) => d.product),
    mutated: mutated.data.updateProduct,
    readQuery: read,
    cacheOnly: cacheOnly.data,
  };
}

const PRODUCT_NAME = gql`
  query ProductName($id: ID!) {
    product(id: $id) {
      id
      name
    }
  }
`;

const PRODUCT_PRICE = gql`
  query ProductPrice($id: ID!) {
    product(id: $id) {
      id
      price
    }
  }
`;

const RECORD_VIEW = gql`
  mutation RecordView($id: ID!) {
    recordProductView(productId: $id)
  }
`;

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

// 3. Automatic persisted queries: hash only, then hash and text, then by hash
// alone from the same client (network-only) and from a new one (a new page
// load); over POST, then with GET for hashed queries, where mutations stay POST.
async function apqScenario() {
  const apqClient = (log, options = {}) =>
    client(new PersistedQueryLink({ sha256, ...options }).concat(httpLink(log)));
  const variables = { id: productId };

  const post = [];
  const results = [];
  results.push((await apqClient(post).query({ query: PRODUCT_NAME, variables })).data);
  const sameClient = apqClient(post);
  results.push((await sameClient.query({ query: PRODUCT_NAME, variables })).data);
  results.push(
    (await sameClient.query({ query: PRODUCT_NAME, variables, fetchPolicy: 'network-only' })).data,
  );

  const get = [];
  const getResults = [];
  const useGET = { useGETForHashedQueries: true };
  getResults.push((await apqClient(get, useGET).query({ query: PRODUCT_PRICE, variables })).data);
  getResults.push((await apqClient(get, useGET).query({ query: PRODUCT_PRICE, variables })).data);
  const viewed = await apqClient(get, useGET).mutate({ mutation: RECORD_VIEW, variables });
  return { post, results, get, getResults, mutation: viewed.data };
}

const ORDER_STATUS_CHANGED = gql`
  subscription OrderStatusChanged {
    orderStatusChanged {
      order {
        id
        number
        status
      }
      previousStatus
      status
    }
  }
`;

const PLACE_ORDER = gql`
  mutation PlaceOrder($input: PlaceOrderInput!) {
    placeOrder(input: $input) {
      id
      number
      status
      total
    }
  }
`;

const ORDER = gql`
  query Order($id: ID!) {
    order(id: $id) {
      id
      number
      status
    }
  }
`;

const MOVE = gql`
  mutation Move($id: ID!, $status: OrderStatus!) {
    updateOrderStatus(id: $id, status: $status) {
      id
      status
    }
  }
`;

// 4. A customer's app: queries and mutations over HTTP, the subscription over
// graphql-ws, in one client (split). The customer places an order and watches
// its page; an admin (another client) moves it along; every change arrives over
// the socket and the order page follows it with no HTTP request.
async function subscriptionScenario() {
  if (!adminToken || !customerToken) fail('ADMIN_TOKEN and CUSTOMER_TOKEN must be set');
  let connected = false;
  const wsClient = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${customerToken}` },
    retryAttempts: 0,
    on: {
      connected: () => {
        connected = true;
      },
    },
  });
  const requests = [];
  const isSubscription = ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
  };
  const customer = client(
    ApolloLink.split(
      isSubscription,
      new GraphQLWsLink(wsClient),
      httpLink(requests, customerToken),
    ),
  );
  const adminRequests = [];
  const admin = client(httpLink(adminRequests, adminToken));

  const events = [];
  const arrivals = [];
  const feed = customer.subscribe({ query: ORDER_STATUS_CHANGED }).subscribe({
    next: (result) => {
      if (result.error) fail(`subscription error: ${result.error.message}`);
      events.push(result.data.orderStatusChanged);
      arrivals.push(Date.now());
    },
    error: (error) => fail(`subscription failed: ${error.message ?? error}`),
  });
  await until('the socket to connect', () => connected);
  await sleep(1000); // the subscribe message is on its way

  const written = [Date.now()];
  const placed = await customer.mutate({
    mutation: PLACE_ORDER,
    variables: { input: { items: [{ productId, quantity: 1 }] } },
  });
  const order = placed.data.placeOrder;
  const page = watch(customer, { query: ORDER, variables: { id: order.id } });
  await until('the placed order to be announced', () => events.length >= 1);
  for (const status of ['PAID', 'SHIPPED']) {
    written.push(Date.now());
    await admin.mutate({ mutation: MOVE, variables: { id: order.id, status } });
    await until(`the move to ${status} to be announced`, () => events.length >= written.length);
  }
  const shipped = () => page.seen.at(-1)?.order.status === 'SHIPPED';
  await until('the order page to show SHIPPED', shipped, 5000);
  await sleep(1000); // nothing more comes
  page.stop();
  feed.unsubscribe();
  await wsClient.dispose();
  return {
    placed: order,
    events,
    delaysMs: arrivals.map((at, i) => at - written[i]),
    watchedStatuses: page.seen.map((d) => d.order.status),
    requests,
    adminRequests: adminRequests.length,
  };
}

const scenarios = {
  cache: cacheScenario,
  mutation: mutationScenario,
  apq: apqScenario,
  subscription: subscriptionScenario,
};
if (!scenarios[scenario]) fail(`usage: node apollo_client.mjs ${Object.keys(scenarios).join('|')}`);
try {
  console.log(JSON.stringify(await scenarios[scenario]()));
} catch (error) {
  fail(error.stack ?? String(error));
}
process.exit(0);

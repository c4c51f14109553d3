// A proxyless gRPC Node client (@grpc/grpc-js-xds) that calls
// helloworld.Greeter at `xds:///TARGET`; its bootstrap comes from
// GRPC_XDS_BOOTSTRAP. The same stdin protocol as greeter_xds_client.cc:
//   call N    N sequential SayHello calls, each with a 1 s deadline; prints
//             one JSON line {"ok":{"PORT":count},"errors":{"CODE: message":count}}
// It exits at the end of its input.
//
// Usage: node greeter_xds_client.cjs PROTO TARGET (NODE_PATH: the npm tools)
'use strict';

const grpc = require('@grpc/grpc-js');
const grpcXds = require('@grpc/grpc-js-xds');
const protoLoader = require('@grpc/proto-loader');
const readline = require('readline');

const [protoPath, target] = process.argv.slice(2);
if (!protoPath || !target) {
  console.error('usage: node greeter_xds_client.cjs PROTO TARGET');
  process.exit(2);
}
grpcXds.register();
const helloworld = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath)).helloworld;
const client = new helloworld.Greeter(`xds:///${target}`, grpc.credentials.createInsecure());

function sayHello() {
  return new Promise((resolve) => {
    const deadline = new Date(Date.now() + 1000);
    client.sayHello({ name: 'nginx-xds' }, { deadline }, (error, reply) => resolve({ error, reply }));
  });
}

async function call(count) {
  const result = { ok: {}, errors: {} };
  for (let i = 0; i < count; i++) {
    const { error, reply } = await sayHello();
    const [group, key] = error ? ['errors', `${error.code}: ${error.details}`] : ['ok', reply.message];
    result[group][key] = (result[group][key] || 0) + 1;
  }
  return result;
}

// Commands run one at a time, in order.
let queue = Promise.resolve();
const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const match = /^call (\d+)$/.exec(line.trim());
  if (!match || Number(match[1]) < 1 || Number(match[1]) > 100000) {
    console.error(`unknown command "${line}"; expected: call N (1-100000)`);
    process.exit(2);
  }
  queue = queue.then(async () => console.log(JSON.stringify(await call(Number(match[1])))));
});
lines.on('close', () => queue.then(() => process.exit(0)));

// A helloworld.Greeter backend (@grpc/grpc-js) on 127.0.0.1, a free port
// picked by the kernel, that answers every SayHello with its own port. It
// prints "port=N" once serving and stops when its stdin closes.
//
// Usage: node greeter_server.cjs PROTO (NODE_PATH: the npm tools)
'use strict';

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const protoPath = process.argv[2];
const helloworld = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath)).helloworld;
const server = new grpc.Server();
let port = 0;
server.addService(helloworld.Greeter.service, {
  sayHello: (call, callback) => callback(null, { message: String(port) }),
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => {
  if (error) {
    console.error(`cannot listen: ${error.message}`);
    process.exit(1);
  }
  port = bound;
  console.log(`port=${port}`);
});
process.stdin.resume();
process.stdin.on('end', () => {
  server.forceShutdown();
  process.exit(0);
});

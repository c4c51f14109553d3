// A proxyless gRPC C++ client (Debian's gRPC, with its xDS resolver) that
// calls helloworld.Greeter at `xds:///TARGET`; its bootstrap comes from
// GRPC_XDS_BOOTSTRAP. The tests drive it over stdin, one command per line:
//   call N    N sequential SayHello calls, each with a 1 s deadline; prints
//             one JSON line {"ok":{"PORT":count},"errors":{"CODE: message":count}}
// It exits at the end of its input.
//
// Usage: greeter_xds_client TARGET

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "helloworld.grpc.pb.h"

namespace {

std::string CallResultsJson(int calls, helloworld::Greeter::Stub* stub) {
  std::map<std::string, int> ok;
  std::map<std::string, int> errors;
  for (int i = 0; i < calls; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    helloworld::HelloRequest request;
    request.set_name("nginx-xds");
    helloworld::HelloReply reply;
    grpc::Status status = stub->SayHello(&context, request, &reply);
    if (status.ok()) {
      ++ok[reply.message()];
    } else {
      ++errors[std::to_string(status.error_code()) + ": " + status.error_message()];
    }
  }
  google::protobuf::Struct result;
  for (const auto& [group, counts] : {std::pair{"ok", &ok}, std::pair{"errors", &errors}}) {
    auto* fields = (*result.mutable_fields())[group].mutable_struct_value()->mutable_fields();
    for (const auto& [key, count] : *counts) (*fields)[key].set_number_value(count);
  }
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(result, &json);
  return json;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: greeter_xds_client TARGET (calls xds:///TARGET)\n";
    return 2;
  }
  auto channel =
      grpc::CreateChannel(std::string("xds:///") + argv[1], grpc::InsecureChannelCredentials());
  auto stub = helloworld::Greeter::NewStub(channel);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream words(line);
    std::string command;
    int count = 0;
    if (!(words >> command >> count) || command != "call" || count < 1 || count > 100000) {
      std::cerr << "unknown command \"" << line << "\"; expected: call N (1-100000)\n";
      return 2;
    }
    std::cout << CallResultsJson(count, stub.get()) << std::endl;
  }
  // gRPC 1.51's xDS client may crash in static destructors at exit; the
  // answers are flushed, so leave without running them.
  std::cout.flush();
  std::_Exit(0);
}

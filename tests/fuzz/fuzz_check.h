// What every fuzz target of tests/fuzz shares: a property check that stops
// the run with a message (libFuzzer then saves the input), and proto input
// that libFuzzer's byte mutations can reach in both encodings.

#ifndef TESTS_FUZZ_FUZZ_CHECK_H_
#define TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"

// Aborts (a finding) when `condition` is false; `what` says which property broke.
#define FUZZ_CHECK(condition, what)                                            \
  do {                                                                         \
    if (!(condition)) {                                                        \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, \
                   std::string(what).c_str());                                 \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

namespace nginx_xds::fuzz {

// Parses `data` as the text format (the seed corpora are readable
// .textproto files) or else as the binary encoding. False when neither.
inline bool ParseProtoInput(absl::string_view data, google::protobuf::Message* message) {
  google::protobuf::TextFormat::Parser parser;
  parser.AllowPartialMessage(true);
  if (parser.ParseFromString(std::string(data), message)) return true;
  message->Clear();
  return message->ParseFromArray(data.data(), static_cast<int>(data.size()));
}

}  // namespace nginx_xds::fuzz

#endif  // TESTS_FUZZ_FUZZ_CHECK_H_

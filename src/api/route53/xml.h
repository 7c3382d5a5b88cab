#pragma once
// XML for the Route 53-compatible API (pugixml): reading request bodies strictly (unknown or
// repeated elements are InvalidInput naming the element, with a did-you-mean) and writing
// responses and error bodies in Route 53's shapes (namespace
// https://route53.amazonaws.com/doc/2013-04-01/).
//
// Errors are thrown as Route53Error and turned into the error body by the route wrapper.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <pugixml.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"

namespace steerdns::api::route53 {

inline constexpr char kNamespace[] = "https://route53.amazonaws.com/doc/2013-04-01/";

// A Route 53 error: HTTP status, code ("NoSuchHostedZone") and message; InvalidChangeBatch
// carries one message per problem.
class Route53Error : public std::runtime_error {
 public:
  Route53Error(unsigned status, std::string code, std::string message,
               std::vector<std::string> messages = {})
      : std::runtime_error(std::move(message)),
        status_(status),
        code_(std::move(code)),
        messages_(std::move(messages)) {}
  unsigned status() const { return status_; }
  const std::string& code() const { return code_; }
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  unsigned status_;
  std::string code_;
  std::vector<std::string> messages_;
};

[[noreturn]] void invalid_input(const std::string& message);
// InvalidChangeBatch (400) with its messages; the message is "[m1, m2]" as Route 53 prints it.
[[noreturn]] void invalid_change_batch(std::vector<std::string> messages);

// <ErrorResponse><Error><Type>Sender|Receiver</Type><Code/><Message/>[<Messages>...]</Error>
// <RequestId/></ErrorResponse>, which botocore parses into Error.Code / Error.Message.
Response error_response(const Route53Error& e, const std::string& request_id);

// A strict reader over one element. `path` names it in errors ("ChangeBatch/Changes/Change[2]").
class Elem {
 public:
  Elem(pugi::xml_node node, std::string path) : node_(node), path_(std::move(path)) {}

  // Every child element must be one of `known`; those not in `repeatable` may appear once.
  // Text content or unknown elements are InvalidInput naming them.
  void only(std::initializer_list<std::string_view> known,
            std::initializer_list<std::string_view> repeatable = {}) const;

  bool has(std::string_view name) const;
  std::optional<Elem> child(std::string_view name) const;
  Elem required(std::string_view name) const;
  std::vector<Elem> children(std::string_view name) const;

  std::optional<std::string> text(std::string_view name) const;
  std::string required_text(std::string_view name) const;
  std::optional<int64_t> integer(std::string_view name, int64_t lo, int64_t hi) const;
  std::optional<bool> boolean(std::string_view name) const;
  // This element's own text.
  std::string value() const;

  const std::string& path() const { return path_; }
  pugi::xml_node node() const { return node_; }

 private:
  pugi::xml_node node_;
  std::string path_;
};

// Parses a request body whose root element must be `root` (any namespace prefix-free name).
// Throws InvalidInput for empty bodies, malformed XML (with the offset) or another root.
Elem parse_request(pugi::xml_document& doc, const std::string& body, std::string_view root);

// Response writing.
pugi::xml_node start_response(pugi::xml_document& doc, const char* root);
pugi::xml_node add(pugi::xml_node parent, const char* name, std::string_view text);
pugi::xml_node add(pugi::xml_node parent, const char* name);
Response xml_response(unsigned status, const pugi::xml_document& doc);

// "2026-11-25T21:52:13.123Z"
std::string iso8601(int64_t unix_ms);

}  // namespace steerdns::api::route53

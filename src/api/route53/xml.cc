#include "api/route53/xml.h"

#include <charconv>
#include <ctime>
#include <map>
#include <sstream>

#include "config/suggest.h"

namespace steerdns::api::route53 {

void invalid_input(const std::string& message) { throw Route53Error(400, "InvalidInput", message); }

void invalid_change_batch(std::vector<std::string> messages) {
  std::string text = "[";
  for (size_t i = 0; i < messages.size(); ++i) {
    text += (i == 0 ? "" : ", ") + messages[i];
  }
  text += "]";
  throw Route53Error(400, "InvalidChangeBatch", text, std::move(messages));
}

Response error_response(const Route53Error& e, const std::string& request_id) {
  pugi::xml_document doc;
  pugi::xml_node root = start_response(doc, "ErrorResponse");
  pugi::xml_node err = add(root, "Error");
  add(err, "Type", e.status() >= 500 ? "Receiver" : "Sender");
  add(err, "Code", e.code());
  add(err, "Message", e.what());
  if (!e.messages().empty()) {
    pugi::xml_node msgs = add(err, "Messages");
    for (const auto& m : e.messages()) {
      add(msgs, "Message", m);
    }
  }
  add(root, "RequestId", request_id);
  Response r = xml_response(e.status(), doc);
  r.headers.emplace_back("x-amzn-RequestId", request_id);
  return r;
}

void Elem::only(std::initializer_list<std::string_view> known,
                std::initializer_list<std::string_view> repeatable) const {
  std::map<std::string, int> seen;
  std::vector<std::string_view> cands(known);
  for (pugi::xml_node c = node_.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
      std::string t = c.value();
      if (t.find_first_not_of(" \t\r\n") != std::string::npos) {
        invalid_input("Unexpected text '" + t + "' in element " + path_);
      }
      continue;
    }
    if (c.type() != pugi::node_element) {
      continue;
    }
    std::string name = c.name();
    bool ok = false;
    for (auto k : known) {
      ok = ok || k == name;
    }
    if (!ok) {
      invalid_input("Unknown element " + path_ + "/" + name + config::did_you_mean(name, cands));
    }
    bool rep = false;
    for (auto k : repeatable) {
      rep = rep || k == name;
    }
    if (++seen[name] > 1 && !rep) {
      invalid_input("Element " + path_ + "/" + name + " is given more than once");
    }
  }
}

bool Elem::has(std::string_view name) const {
  return static_cast<bool>(node_.child(std::string(name).c_str()));
}

std::optional<Elem> Elem::child(std::string_view name) const {
  pugi::xml_node c = node_.child(std::string(name).c_str());
  if (!c) {
    return std::nullopt;
  }
  return Elem(c, path_ + "/" + std::string(name));
}

Elem Elem::required(std::string_view name) const {
  auto c = child(name);
  if (!c) {
    invalid_input("Missing element " + path_ + "/" + std::string(name));
  }
  return *c;
}

std::vector<Elem> Elem::children(std::string_view name) const {
  std::vector<Elem> out;
  int i = 0;
  // (The name must outlive the iteration: pugixml's named iterator keeps the pointer.)
  const std::string wanted(name);
  for (pugi::xml_node c = node_.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element || wanted != c.name()) {
      continue;
    }
    ++i;
    out.emplace_back(c, path_ + "/" + wanted + "[" + std::to_string(i) + "]");
  }
  return out;
}

std::string Elem::value() const {
  for (pugi::xml_node c = node_.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element) {
      invalid_input("Element " + path_ + " must hold text, not element " + c.name());
    }
  }
  return node_.text().get();
}

std::optional<std::string> Elem::text(std::string_view name) const {
  auto c = child(name);
  if (!c) {
    return std::nullopt;
  }
  return c->value();
}

std::string Elem::required_text(std::string_view name) const {
  auto t = text(name);
  if (!t) {
    invalid_input("Missing element " + path_ + "/" + std::string(name));
  }
  return *t;
}

std::optional<int64_t> Elem::integer(std::string_view name, int64_t lo, int64_t hi) const {
  auto t = text(name);
  if (!t) {
    return std::nullopt;
  }
  int64_t v = 0;
  auto [p, ec] = std::from_chars(t->data(), t->data() + t->size(), v);
  if (t->empty() || ec != std::errc() || p != t->data() + t->size()) {
    invalid_input("Invalid value for " + path_ + "/" + std::string(name) + ": '" + *t +
                  "' is not an integer");
  }
  if (v < lo || v > hi) {
    invalid_input("Invalid value for " + path_ + "/" + std::string(name) + ": " + *t +
                  " is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return v;
}

std::optional<bool> Elem::boolean(std::string_view name) const {
  auto t = text(name);
  if (!t) {
    return std::nullopt;
  }
  if (*t == "true") {
    return true;
  }
  if (*t == "false") {
    return false;
  }
  invalid_input("Invalid value for " + path_ + "/" + std::string(name) + ": '" + *t +
                "' is not true or false");
}

Elem parse_request(pugi::xml_document& doc, const std::string& body, std::string_view root) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    invalid_input("The request body is empty; expected an XML " + std::string(root) + " document");
  }
  pugi::xml_parse_result res = doc.load_buffer(body.data(), body.size(), pugi::parse_default);
  if (!res) {
    invalid_input("Malformed XML at byte " + std::to_string(res.offset) + ": " + res.description());
  }
  pugi::xml_node top = doc.document_element();
  std::string name = top.name();
  if (name != root) {
    invalid_input("Expected root element " + std::string(root) + ", got " + name);
  }
  return Elem(top, std::string(root));
}

pugi::xml_node start_response(pugi::xml_document& doc, const char* root) {
  pugi::xml_node decl = doc.prepend_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  pugi::xml_node r = doc.append_child(root);
  r.append_attribute("xmlns") = kNamespace;
  return r;
}

pugi::xml_node add(pugi::xml_node parent, const char* name, std::string_view text) {
  pugi::xml_node n = parent.append_child(name);
  n.text().set(std::string(text).c_str());
  return n;
}

pugi::xml_node add(pugi::xml_node parent, const char* name) { return parent.append_child(name); }

Response xml_response(unsigned status, const pugi::xml_document& doc) {
  std::ostringstream os;
  doc.save(os, "", pugi::format_raw);
  Response r;
  r.status = status;
  r.content_type = "text/xml";
  r.body = os.str();
  return r;
}

std::string iso8601(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(unix_ms % 1000));
  return out;
}

}  // namespace steerdns::api::route53

#include "api/http.h"

#include <boost/beast/http/field.hpp>
#include <cctype>

#include "config/suggest.h"

namespace steerdns::api {

using nlohmann::json;

namespace {

std::string_view type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::null:
      return "null";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    default:
      return "something else";
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

std::string_view Request::header(http::field f) const {
  if (raw == nullptr) {
    return {};
  }
  auto it = raw->find(f);
  return it == raw->end() ? std::string_view{}
                          : std::string_view(it->value().data(), it->value().size());
}

std::string_view Request::header(std::string_view name) const {
  if (raw == nullptr) {
    return {};
  }
  auto it = raw->find(boost::beast::string_view(name.data(), name.size()));
  return it == raw->end() ? std::string_view{}
                          : std::string_view(it->value().data(), it->value().size());
}

std::optional<std::string> Request::query_value(std::string_view name) const {
  auto it = query.find(std::string(name));
  if (it == query.end()) {
    return std::nullopt;
  }
  return it->second;
}

const std::string& Request::param(const std::string& name) const {
  static const std::string kEmpty;
  auto it = params.find(name);
  return it == params.end() ? kEmpty : it->second;
}

json Request::json_body() const {
  std::string_view ct = header(http::field::content_type);
  if (!ct.empty()) {
    std::string_view media = ct.substr(0, ct.find(';'));
    while (!media.empty() && media.back() == ' ') {
      media.remove_suffix(1);
    }
    std::string lower(media);
    for (char& c : lower) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (lower != "application/json") {
      throw HttpError(415, "Content-Type '" + std::string(ct) +
                               "' is not supported here; send application/json");
    }
  }
  if (raw == nullptr || raw->body().empty()) {
    throw HttpError(400, "request body is empty; expected a JSON object");
  }
  try {
    return json::parse(raw->body());
  } catch (const json::parse_error& e) {
    // what() starts with "[json.exception.parse_error.101] "; the rest names line, column, why.
    std::string msg = e.what();
    if (auto p = msg.find("] "); p != std::string::npos && msg.rfind("[json.", 0) == 0) {
      msg = msg.substr(p + 2);
    }
    throw HttpError(400, "request body is not valid JSON: " + msg, "invalid_json");
  }
}

Response json_response(unsigned status, const json& body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  r.body += '\n';
  return r;
}

Response text_response(unsigned status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Response error_response(unsigned status, std::string_view code, std::string_view message) {
  return json_response(status,
                       json{{"error", {{"code", std::string(code)}, {"message", message}}}});
}

std::string_view error_code_for(unsigned status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 409:
      return "conflict";
    case 413:
      return "payload_too_large";
    case 415:
      return "unsupported_media_type";
    case 431:
      return "header_too_large";
    case 500:
      return "internal";
    case 501:
      return "not_implemented";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal" : "bad_request";
  }
}

void require_object(const json& obj, std::string_view what) {
  if (!obj.is_object()) {
    throw HttpError(400, std::string(what) + " must be a JSON object, got " +
                             std::string(type_name(obj)));
  }
}

void reject_unknown_fields(const json& obj, const std::vector<std::string_view>& known) {
  for (const auto& [key, value] : obj.items()) {
    bool found = false;
    for (auto k : known) {
      found = found || k == key;
    }
    if (!found) {
      std::string list;
      for (auto k : known) {
        list += (list.empty() ? "" : ", ") + std::string(k);
      }
      throw HttpError(400, "unknown field '" + key + "'" + config::did_you_mean(key, known) +
                               "; known: " + list);
    }
  }
}

std::optional<std::string> string_field(const json& obj, const std::string& name, bool required,
                                        size_t max_len) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    if (required) {
      throw HttpError(400, "field '" + name + "' is required");
    }
    return std::nullopt;
  }
  if (!it->is_string()) {
    throw HttpError(400, "field '" + name + "' must be a string, got " +
                             std::string(type_name(*it)));
  }
  std::string v = it->get<std::string>();
  if (v.size() > max_len) {
    throw HttpError(400, "field '" + name + "' is " + std::to_string(v.size()) +
                             " bytes long; at most " + std::to_string(max_len));
  }
  return v;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) {
        return std::nullopt;
      }
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace steerdns::api

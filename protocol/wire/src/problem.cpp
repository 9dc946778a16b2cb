#include <protocol/wire/problem.hpp>

#include <protocol/json.hpp>

namespace livemart {

std::string render(const problem& p, std::string_view instance, std::string_view request_id) {
  const auto& i = info(p.code);
  json::writer w;
  w.begin_object();
  w.field("type", "/problems/" + std::string{i.slug});
  w.field("title", i.title);
  w.field("status", i.status);
  w.field("code", i.slug);
  w.field("detail", p.detail.empty() ? i.title : std::string_view{p.detail});
  w.field("instance", instance);
  w.field("request_id", request_id);
  if (!p.fields.empty()) {
    w.key("errors").begin_array();
    for (const auto& f : p.fields)
      w.begin_object().field("field", f.field).field("message", f.message).end_object();
    w.end_array();
  }
  if (p.retry_after_s > 0)
    w.field("retry_after_s", p.retry_after_s);
  w.end_object();
  return w.take();
}

} // namespace livemart

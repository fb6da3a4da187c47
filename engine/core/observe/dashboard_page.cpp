#include "engine/core/observe/dashboard_page.hpp"

namespace uringmig::engine::observe {

std::string_view dashboard_page() {
  // A placeholder until the dashboard lands: the live status, refreshed every second.
  static constexpr std::string_view page = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>uringmig</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>uringmig</h1><p>Phase: <span id="phase">-</span></p><pre id="status"></pre>
<script>
async function tick() {
  try {
    const r = await fetch('/api/v1/status');
    const s = await r.json();
    document.getElementById('phase').textContent = s.phase;
    document.getElementById('status').textContent = JSON.stringify(s.progress, null, 2);
  } catch (e) {}
}
tick(); setInterval(tick, 1000);
</script></body></html>
)";
  return page;
}

}  // namespace uringmig::engine::observe

// /redoc: ReDoc's standalone bundle from the pinned npm package (no CDN).
const config = JSON.parse(document.querySelector('meta[name="lc-config"]').content);
window.Redoc.init(config.openapi_url, { hideDownloadButton: false }, document.getElementById("redoc"));

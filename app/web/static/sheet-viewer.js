// The sheet viewer: OpenSeadragon on the sheet's Deep Zoom pyramid.
// The descriptor is read here so that tiles come from .../tiles/<level>/<col>_<row>.png (not <name>_files/).
(function () {
  "use strict";
  var element = document.getElementById("sheet-viewer");
  if (!element) return;
  var missing = document.getElementById("viewer-missing");
  if (!window.OpenSeadragon) {
    element.hidden = true;
    missing.hidden = false;
    return;
  }
  var dzi = element.dataset.dzi;
  var base = dzi.replace(/\/tiles\.dzi$/, "/tiles/");
  fetch(dzi, { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
    .then(function (text) {
      var image = new DOMParser().parseFromString(text, "application/xml").documentElement;
      var size = image.getElementsByTagName("Size")[0];
      window.OpenSeadragon({
        element: element,
        prefixUrl: element.dataset.images,
        showNavigator: true,
        maxZoomPixelRatio: 2,
        tileSources: {
          width: Number(size.getAttribute("Width")),
          height: Number(size.getAttribute("Height")),
          tileSize: Number(image.getAttribute("TileSize")),
          tileOverlap: Number(image.getAttribute("Overlap")),
          minLevel: 0,
          getTileUrl: function (level, x, y) { return base + level + "/" + x + "_" + y + ".png"; }
        }
      });
    })
    .catch(function () { missing.hidden = false; });
})();

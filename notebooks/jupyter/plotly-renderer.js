/**
 * Classic Jupyter Notebook extension (nbextension `bireal-plotly/main`): draws the notebooks'
 * Plotly outputs (MIME type application/vnd.plotly.v1+json, see `plot` in bireal/notebook) with
 * the plotly.js bundle the docs site uses, installed beside it by scripts/setup.sh. Without it
 * the classic Notebook shows the PNG that scripts/notebooks.py stores beside each chart, and
 * charts drawn live in a session would show nothing.
 */
define(['require', 'notebook/js/outputarea'], function (require, outputarea) {
  'use strict';
  var MIME = 'application/vnd.plotly.v1+json';

  function appendPlotly(figure, metadata, element) {
    var area = this.create_output_subarea(metadata, 'output_plotly', MIME);
    var chart = document.createElement('div');
    area.append(chart);
    element.append(area);
    // The bundle is not an AMD module: it sets window.Plotly.
    require(['./plotly.min'], function () {
      window.Plotly.newPlot(chart, figure.data, figure.layout, { responsive: true });
    });
    return area;
  }

  return {
    load_ipython_extension: function () {
      // Index 0: preferred to the PNG beside it. Safe: the figure is data, not code.
      outputarea.OutputArea.prototype.register_mime_type(MIME, appendPlotly, {
        safe: true,
        index: 0,
      });
    },
  };
});

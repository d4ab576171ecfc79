// Editor side of the thing model (TSL): the product dialog, the identifiers of a device's product
// offered in the property, event and command nodes, and data typed into a node checked by the
// runtime's own validator (tsl-model.ts and tsl-check.ts, bundled as AliyunIot['tsl-model'] and
// AliyunIot['tsl-check']).
/* global RED, $, AliyunIot, FileReader */
(function () {
  'use strict';
  var DEVICE = '@iotflow/node-red-aliyun-iot/aliyun-iot-device';
  var PRODUCT = '@iotflow/node-red-aliyun-iot/aliyun-iot-product';
  var model = function () {
    return AliyunIot['tsl-model'];
  };

  function message(problem) {
    return RED._(DEVICE + ':errors.' + problem.code, problem.params);
  }

  AliyunIot.productKeyValidator = function () {
    return function (value, opt) {
      var problems = AliyunIot.rules.checkField('productKey', { productKey: value });
      if (problems.length === 0) return true;
      return opt ? problems.map(message).join('; ') : false;
    };
  };

  AliyunIot.tslValidator = function () {
    return function (value, opt) {
      if (!value || !String(value).trim()) return true;
      var read = model().parseTsl(value);
      return read.ok ? true : opt ? message(read.problem) : false;
    };
  };

  /** The product dialog: a TSL file loads into the text; a summary says what the model holds. */
  AliyunIot.prepareProductDialog = function () {
    var area = $('#node-config-input-tsl');
    var file = $('#aliyun-iot-product-tsl-file');
    var summary = $('#aliyun-iot-product-tsl-summary');
    function refresh() {
      var text = String(area.val() || '').trim();
      if (!text) return summary.text(RED._(PRODUCT + ':aliyun-iot-product.summary.none'));
      var read = model().parseTsl(text);
      if (!read.ok) return summary.text(RED._(PRODUCT + ':aliyun-iot-product.summary.invalid', read.problem.params));
      summary.text(
        RED._(PRODUCT + ':aliyun-iot-product.summary.counts', {
          properties: read.model.properties.size,
          events: read.model.events.size,
          services: read.model.services.size,
        }),
      );
    }
    $('#aliyun-iot-product-tsl-load').on('click', function () {
      file.trigger('click');
    });
    file.on('change', function () {
      var chosen = this.files && this.files[0];
      if (!chosen) return;
      var reader = new FileReader();
      reader.onload = function () {
        area.val(String(reader.result)).trigger('change');
      };
      reader.readAsText(chosen);
    });
    area.on('change keyup', refresh);
    refresh();
  };

  /** The thing model of a device config node's product, or undefined (no product, no TSL, invalid). */
  AliyunIot.modelOf = function (deviceId) {
    var device = deviceId && RED.nodes.node(deviceId);
    var product = device && device.product && RED.nodes.node(device.product);
    if (!product || !product.tsl) return undefined;
    var read = model().parseTsl(product.tsl);
    return read.ok ? read.model : undefined;
  };

  /** One line per field of an item's data: `Level: int 1..5`. */
  function fieldsText(fields) {
    return fields
      .map(function (f) {
        return (
          f.identifier + (f.name !== f.identifier ? ' (' + f.name + ')' : '') + ': ' + model().describeType(f.dataType)
        );
      })
      .join('\n');
  }

  /** Where a dialog shows the model's items: a tips box under the row of `input`, one per line. */
  function schemaBox(input) {
    return $('<div class="form-tips aliyun-iot-schema" style="white-space: pre-line">').insertAfter(
      input.closest('.form-row'),
    );
  }

  function optionLabel(kind, item) {
    if (kind === 'properties') {
      return item.name + ' · ' + model().describeType(item.dataType) + ' · ' + item.accessMode;
    }
    return item.name + (kind === 'events' ? ' · ' + item.type : ' · ' + item.callType);
  }

  /**
   * Offers the identifiers of the chosen device's product in `#node-input-<name>` (a list to pick
   * from; typing stays possible) and shows the picked one's data below it. Follows the device field.
   */
  AliyunIot.identifierPicker = function (name, kind) {
    var input = $('#node-input-' + name);
    var listId = 'aliyun-iot-' + name + '-identifiers';
    var list = $('<datalist>').attr('id', listId).insertAfter(input);
    var schema = schemaBox(input);
    function refresh() {
      var m = AliyunIot.modelOf($('#node-input-device').val());
      list.empty();
      input.attr('list', m ? listId : null);
      if (!m) return schema.hide();
      m[kind].forEach(function (item, id) {
        list.append($('<option>').attr('value', id).text(optionLabel(kind, item)));
      });
      var picked = m[kind].get(String(input.val() || '').trim());
      if (!picked) return schema.hide();
      var data = kind === 'events' ? picked.outputData : picked.inputData;
      var id = String(input.val()).trim();
      schema.text(id + ' · ' + optionLabel(kind, picked) + (data.length ? '\n' + fieldsText(data) : '')).show();
    }
    input.on('change keyup input', refresh);
    $('#node-input-device').on('change', refresh);
    refresh();
  };

  /** The property node: the product's properties listed below the data field, for reference. */
  /** A node from a flow older than the `tslUnknown` setting: the default (refuse) shows selected. */
  AliyunIot.unknownPolicyField = function () {
    var select = $('#node-input-tslUnknown');
    if (!select.val()) select.val('refuse');
  };

  AliyunIot.propertyList = function () {
    var box = schemaBox($('#node-input-payload'));
    function refresh() {
      var m = AliyunIot.modelOf($('#node-input-device').val());
      if (!m || m.properties.size === 0) return box.hide();
      var lines = [];
      m.properties.forEach(function (p, id) {
        lines.push(id + ' (' + optionLabel('properties', p) + ')');
      });
      box.text(lines.join('\n')).show();
    }
    $('#node-input-device').on('change', refresh);
    refresh();
  };

  /** The reply node: what each of the product's services answers with, for reference. */
  AliyunIot.serviceOutputs = function () {
    var box = schemaBox($('#node-input-device'));
    function refresh() {
      var m = AliyunIot.modelOf($('#node-input-device').val());
      if (!m || m.services.size === 0) return box.hide();
      var blocks = [];
      m.services.forEach(function (service, id) {
        var out = service.outputData.length ? '\n' + fieldsText(service.outputData) : '';
        blocks.push(id + ' (' + optionLabel('services', service) + ')' + out);
      });
      box.text(blocks.join('\n\n')).show();
    }
    $('#node-input-device').on('change', refresh);
    refresh();
  };

  /**
   * Data typed into a property or event node (a JSON constant) checked as the runtime will check
   * it; anything else (msg, flow, JSONata) is read at run time and checked then.
   */
  AliyunIot.modelDataValidator = function (kind) {
    return function (value, opt) {
      var typeInput = $('#node-input-payloadType');
      var type = typeInput.length ? typeInput.val() : this.payloadType;
      var deviceInput = $('#node-input-device');
      var m = AliyunIot.modelOf(deviceInput.length ? deviceInput.val() : this.device);
      if (type !== 'json' || !m) return true;
      var data;
      try {
        data = JSON.parse(value);
      } catch {
        return true; // the TypedInput marks invalid JSON itself
      }
      var check = AliyunIot['tsl-check'];
      var eventInput = $('#node-input-event');
      var policy = $('#node-input-tslUnknown').length ? $('#node-input-tslUnknown').val() : this.tslUnknown;
      policy = policy === 'warn' ? 'warn' : 'refuse';
      var verdict;
      if (kind === 'event') {
        var eventId = eventInput.length ? eventInput.val() : this.event;
        if (!eventId) return true;
        verdict = check.checkEventPost(m, eventId, data, policy);
      } else {
        if (data === null || typeof data !== 'object' || Array.isArray(data)) return true;
        verdict = check.checkPropertyPost(m, data, policy);
      }
      return verdict.ok ? true : opt ? message(verdict.problem) : false;
    };
  };
})();

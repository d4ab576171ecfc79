// Editor side of the settings rules: the config dialog's defaults, option lists, shown rows and
// validators, all from the field table and checks the runtime uses (fields.ts and rules.ts, bundled
// beside this file as AliyunIot.fields and AliyunIot.rules), with the runtime's messages.
/* global RED, $, AliyunIot */
(function () {
  'use strict';
  var NS = '@iotflow/node-red-aliyun-iot/aliyun-iot-device';

  /** The dialog's current values where it is open, else the node's saved ones. */
  function settingsOf(node) {
    var out = {};
    AliyunIot.rules.CHECKED_FIELDS.forEach(function (name) {
      var input = $('#node-config-input-' + name);
      out[name] = input.length ? input.val() : node[name];
    });
    // Not checked itself, but the ProductKey and ProductSecret checks depend on it.
    var product = $('#node-config-input-product');
    out.product = product.length ? product.val() : node.product;
    return withoutAddNew(out);
  }

  /** The config pickers' "Add new..." entry is no gateway or product. */
  function withoutAddNew(settings) {
    ['gateway', 'product'].forEach(function (picker) {
      if (settings[picker] === '_ADD_') settings[picker] = '';
    });
    return settings;
  }

  function message(problem) {
    return RED._(NS + ':errors.' + problem.code, problem.params);
  }

  /** A Node-RED validator for one field: true, or the localized reason (shown as the tooltip). */
  AliyunIot.validator = function (field) {
    return function (value, opt) {
      var settings = settingsOf(this);
      settings[field] = value;
      var problems = AliyunIot.rules.checkField(field, settings);
      if (problems.length === 0) return true;
      return opt ? problems.map(message).join('; ') : false;
    };
  };

  /** Validators for flow nodes: QoS, publish topics and subscription filters. */
  AliyunIot.qosValidator = function (allowBlank) {
    return function (value, opt) {
      if (allowBlank && (value === '' || value === undefined)) return true;
      var problem = AliyunIot.rules.checkQos(value);
      return problem ? (opt ? message(problem) : false) : true;
    };
  };

  /** A flow node's setting that picks one option of a device field (the auth node's mode). */
  AliyunIot.choiceValidator = function (field) {
    return function (value) {
      return AliyunIot.fields.FIELDS[field].options.indexOf(value) >= 0;
    };
  };

  /** Flow nodes' event and service identifiers, by the rule the runtime checks them with. */
  AliyunIot.identifierValidator = function () {
    return function (value) {
      return value === '' || value === undefined || AliyunIot.rules.IDENTIFIER.test(value);
    };
  };

  /** A topic or filter setting; with `typeField`, a TypedInput checked only when it holds a string. */
  AliyunIot.topicValidator = function (kind, typeField) {
    return function (value, opt) {
      if (value === '' || value === undefined) return true;
      if (typeField) {
        var typeInput = $('#node-input-' + typeField);
        var type = typeInput.length ? typeInput.val() : this[typeField];
        if (type && type !== 'str') return true;
      }
      var expanded = AliyunIot.topic.expandTopic(value, { productKey: 'pk', deviceName: 'dn' });
      var code =
        kind === 'filter' ? AliyunIot.topic.checkFilter(expanded) : AliyunIot.topic.checkPublishTopic(expanded);
      return code ? (opt ? RED._(NS + ':errors.' + code, { topic: value }) : false) : true;
    };
  };

  /** What a message's data may be taken from, as the core nodes offer it. */
  AliyunIot.SOURCE_TYPES = ['msg', 'flow', 'global', 'env', 'str', 'num', 'bool', 'json', 'bin', 'date', 'jsonata'];

  /**
   * Turns `#node-input-<name>` into a TypedInput whose type is kept in `<name>Type`. A node from a
   * flow older than the setting has neither: it gets `fallback` (msg.payload for a data source),
   * which the editor would otherwise mark invalid as an empty msg property.
   */
  AliyunIot.typedInput = function (name, types, fallback) {
    var input = $('#node-input-' + name);
    var typeField = $('#node-input-' + name + 'Type');
    if (fallback && !input.val() && !typeField.val()) {
      input.val(fallback.value);
      typeField.val(fallback.type);
    }
    input.typedInput({
      default: types[0],
      typeField: '#node-input-' + name + 'Type',
      types: types,
    });
  };

  /** `defaults` and `credentials` of the device config node, from the field table. */
  AliyunIot.deviceDefaults = function () {
    var checked = AliyunIot.rules.CHECKED_FIELDS;
    var out = { defaults: {}, credentials: {} };
    Object.keys(AliyunIot.fields.FIELDS).forEach(function (name) {
      var field = AliyunIot.fields.FIELDS[name];
      var entry = field.credential ? { type: 'password' } : { value: field.default };
      if (field.required) entry.required = true;
      // A config node picker, optional: the runtime names a gateway that is missing.
      if (field.configType) {
        entry.type = field.configType;
        entry.required = false;
      }
      if (checked.indexOf(name) >= 0) entry.validate = AliyunIot.validator(name);
      out[field.credential ? 'credentials' : 'defaults'][name] = entry;
    });
    return out;
  };

  /** Fills the device dialog's option lists and shows the rows that apply, as the settings change. */
  AliyunIot.prepareDeviceDialog = function (node) {
    var fields = AliyunIot.fields;
    var names = Object.keys(fields.FIELDS);
    var input = function (name) {
      return $('#node-config-input-' + name);
    };
    names.forEach(function (name) {
      var field = fields.FIELDS[name];
      if (field.kind !== 'choice') return;
      var select = input(name).empty();
      field.options.forEach(function (option) {
        var label = field.labelled ? node._('aliyun-iot-device.' + name + '.' + option) : option;
        select.append($('<option></option>').val(option).text(label));
      });
      select.val(node[name] || field.default);
    });
    function current() {
      var settings = {};
      names.forEach(function (name) {
        settings[name] = input(name).val();
      });
      return withoutAddNew(settings);
    }
    function refresh() {
      var settings = current();
      names.forEach(function (name) {
        var applies = fields.FIELDS[name].applies;
        input(name)
          .closest('.form-row')
          .toggle(!applies || applies(settings));
      });
      // A sub-device has no transport of its own: its gateway's connection and TLS settings carry it.
      var viaGateway = fields.viaGateway(settings);
      $('.aliyun-iot-no-tls').toggle(!viaGateway && !fields.usesTls(settings));
      $('.aliyun-iot-tls-via-gateway').toggle(viaGateway);
      input('port').attr('placeholder', String(fields.DEFAULT_PORTS[fields.choiceOf(settings, 'transport')] || ''));
      var pk = settings.productKey || '${productKey}';
      var dn = settings.deviceName || '${deviceName}';
      input('clientId').attr('placeholder', pk + '.' + dn);
    }
    names.forEach(function (name) {
      input(name).on('change keyup', refresh);
    });
    refresh();
  };
})();

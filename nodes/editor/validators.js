// Editor side of the settings rules: validators for the config dialog that run the same checks as
// the runtime (rules.ts, bundled beside this file as AliyunIot.rules) and show the same messages.
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
    return out;
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

  AliyunIot.topicValidator = function (kind) {
    return function (value, opt) {
      if (value === '' || value === undefined) return true;
      var expanded = AliyunIot.topic.expandTopic(value, { productKey: 'pk', deviceName: 'dn' });
      var code =
        kind === 'filter' ? AliyunIot.topic.checkFilter(expanded) : AliyunIot.topic.checkPublishTopic(expanded);
      return code ? (opt ? RED._(NS + ':errors.' + code, { topic: value }) : false) : true;
    };
  };
})();

// The flow `npm start` preloads: the demo device on the emulator (TLS, the emulator's CA), an
// inject -> publish, a subscribe -> debug, a connect -> debug, and the cloud side setting a property.
'use strict';

const DEMO = { productKey: 'a1DemoPk', deviceName: 'demo-device', deviceSecret: 'demo-device-secret' };

function demoFlow({ host, ports, caPem, caPath }) {
  const z = 'demo-tab';
  const base = `/sys/${DEMO.productKey}/${DEMO.deviceName}`;
  return [
    { id: z, type: 'tab', label: 'Aliyun IoT demo', disabled: false, info: 'Runs against the local emulator started by npm start.' },
    {
      id: 'demo-config', type: 'aliyun-iot-device', name: 'demo device (emulator)', productKey: DEMO.productKey, deviceName: DEMO.deviceName,
      endpoint: 'custom', regionId: 'cn-shanghai', instanceId: '', host, port: String(ports.mqtts), transport: 'tls', signmethod: 'hmacsha256',
      clientId: '', keepalive: '300', cleanSession: true, autoConnect: true, queueSize: '1000', ca: caPem, servername: '', rejectUnauthorized: true,
      credentials: { deviceSecret: DEMO.deviceSecret },
    },
    { id: 'demo-note-1', type: 'comment', z, name: 'Device side: publish a reading, watch the connection', info: '', x: 220, y: 40, wires: [] },
    {
      id: 'demo-inject', type: 'inject', z, name: 'reading every 10 s', props: [{ p: 'payload' }], repeat: '10', crontab: '', once: true, onceDelay: '2',
      topic: '', payload: '{"temperature":21.5,"humidity":40}', payloadType: 'json', x: 170, y: 100, wires: [['demo-publish']],
    },
    { id: 'demo-publish', type: 'aliyun-iot-publish', z, name: '', device: 'demo-config', topic: 'user/update', qos: '1', x: 410, y: 100, wires: [] },
    { id: 'demo-connect', type: 'aliyun-iot-connect', z, name: '', device: 'demo-config', x: 150, y: 160, wires: [['demo-state']] },
    { id: 'demo-state', type: 'debug', z, name: 'connection state', active: true, tosidebar: true, console: false, complete: 'payload', targetType: 'msg', x: 410, y: 160, wires: [] },
    { id: 'demo-note-2', type: 'comment', z, name: 'Cloud side: the emulator sets a property, the device receives it', info: '', x: 270, y: 230, wires: [] },
    {
      id: 'demo-cloud-inject', type: 'inject', z, name: 'cloud: set LightSwitch every 20 s', props: [{ p: 'payload' }], repeat: '20', crontab: '',
      once: true, onceDelay: '4', topic: '', payload: '{"params":{"LightSwitch":1}}', payloadType: 'json', x: 200, y: 290, wires: [['demo-cloud-call']],
    },
    {
      id: 'demo-cloud-call', type: 'http request', z, name: 'emulator cloud API', method: 'POST', ret: 'obj', paytoqs: 'ignore',
      url: `https://${host}:${ports.https}/api/devices/${DEMO.productKey}/${DEMO.deviceName}/properties`, tls: 'demo-tls', persist: false,
      proxy: '', insecureHTTPParser: false, authType: '', senderr: false, headers: [], x: 470, y: 290, wires: [['demo-cloud-answer']],
    },
    { id: 'demo-cloud-answer', type: 'debug', z, name: 'cloud API answer', active: false, tosidebar: true, console: false, complete: 'payload', targetType: 'msg', x: 690, y: 290, wires: [] },
    {
      id: 'demo-subscribe', type: 'aliyun-iot-subscribe', z, name: 'property set', device: 'demo-config', topic: `${base}/thing/service/property/set`,
      qos: '1', format: 'json', x: 160, y: 350, wires: [['demo-property']],
    },
    { id: 'demo-property', type: 'debug', z, name: 'property set from the cloud', active: true, tosidebar: true, console: false, complete: 'payload', targetType: 'msg', x: 440, y: 350, wires: [] },
    { id: 'demo-tls', type: 'tls-config', name: 'emulator CA', cert: '', key: '', ca: caPath, certname: '', keyname: '', caname: '', servername: '', verifyservercert: true, alpnprotocol: '' },
  ];
}

module.exports = { DEMO, demoFlow };

// JS9 preferences for xmmdb: no helper server, nothing loaded from elsewhere.
var JS9Prefs = {
  "globalOpts": {"helperType": "none", "loadProxy": false, "debug": 0, "workerEnabled": false,
                 "requireHelper": false, "alerts": false},
  "imageOpts": {"colormap": "heat", "scale": "log"}
};

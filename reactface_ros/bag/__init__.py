"""Bag tools: interaction bags from synthetic or REACT clips, replay, record, evaluate.

- `store`: mcap bags with `rosbags` and the reactface message types;
- `interaction`: a speaker (camera images + audio chunks) and the reference listener
  reactions as one bag (`reactface bag from-synth`, `from-react`);
- `replay`: publish a bag in real time, paced by header stamps (`reactface bag replay`);
- `record`: subscribe to topics and write what arrives (`reactface bag record`);
- `evaluate`: REACT metrics of recorded reactions against a bag's references
  (`reactface bag evaluate`).
"""

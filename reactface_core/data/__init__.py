"""Data: REACT-format I/O, the torch Dataset, and the synthetic dyadic world.

- `react`: the REACT challenge layout (csv pairs in both directions, modality folders,
  the 2N x 2N appropriateness matrix, `dataset.json`) with loaders that name the file and
  the expected shape when something is wrong;
- `dataset`: `ReactDataset` (contract 5 items), `make_dataloader` (`Normalisation` is in `checkpoint`);
- `world`: the synthetic speakers and listeners behind `reactface synth`;
- `preview`: a PNG of one synthetic speaker clip and its appropriate reactions.

Submodules are imported explicitly (`from reactface_core.data.dataset import ...`) so that
importing the world's worker code does not pull in torch.
"""

// Colours for the map and charts (0xAARRGGBB). Categorical palette: Tableau 10 then a second,
// lighter ten; beyond 20 classes colours repeat (the legend and hover still say the label).
const CAT = [
  0x4e79a7, 0xf28e2b, 0xe15759, 0x76b7b2, 0x59a14f, 0xedc948, 0xb07aa1, 0xff9da7, 0x9c755f, 0xbab0ac, 0x1f77b4,
  0xaec7e8, 0xffbb78, 0x98df8a, 0xff9896, 0xc5b0d5, 0xc49c94, 0xf7b6d2, 0xdbdb8d, 0x9edae5,
];
export const OOD_COLOR = 0xff6b6b6b;
export const STATUS_COLORS = [0xff59a14f, 0xfff28e2b, 0xff6b6b6b]; // clean, relabeled, ood
export const STATUS_NAMES = ['clean', 'relabeled', 'OOD'];

export function classColor(i: number): number {
  return i < 0 ? OOD_COLOR : (0xff000000 | CAT[i % CAT.length]) >>> 0;
}

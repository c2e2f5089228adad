// What the Electron shell (menu, dropped folder) asks the renderer to do. The renderer performs it exactly as if the
// user had used its own controls, so there is one code path for each action.
export type AppCommand =
  | { type: 'open-path'; path: string } //   open this dataset folder (dialog, Recent, drop)
  | { type: 'export' } //                    show the export dialog
  | { type: 'undo' }
  | { type: 'redo' }
  | { type: 'shortcuts' } //                 show the keyboard help overlay
  | { type: 'error'; message: string }; //   e.g. a dropped file that is not a folder

/** The case section's ARIA tabs: arrow keys move between tabs, Home/End to the ends; the selected tab shows its panel. */
export function setUpTabs(list: HTMLElement, onSelect?: (id: string) => void): (id: string) => void {
  const tabs = [...list.querySelectorAll<HTMLButtonElement>('[role="tab"]')];
  const select = (id: string, focus = false): void => {
    for (const t of tabs) {
      const on = t.id === id;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      const panel = document.getElementById(t.getAttribute('aria-controls') ?? '');
      if (panel !== null) panel.hidden = !on;
      if (on && focus) t.focus();
    }
    onSelect?.(id);
  };
  tabs.forEach((t, i) => {
    t.addEventListener('click', () => select(t.id));
    t.addEventListener('keydown', (ev) => {
      let j: number | null = null;
      if (ev.key === 'ArrowRight') j = (i + 1) % tabs.length;
      else if (ev.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
      else if (ev.key === 'Home') j = 0;
      else if (ev.key === 'End') j = tabs.length - 1;
      if (j === null) return;
      ev.preventDefault();
      const next = tabs[j];
      if (next !== undefined) select(next.id, true);
    });
  });
  return (id: string) => select(id);
}

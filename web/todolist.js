// The todo list both examples draw: add (Enter), edit (double-click, or
// Enter on a focused todo; Enter saves, Escape cancels), toggle.
import { h } from "./dom.js";

/**
 * @param {object} p
 * @param {{id: string, content: string, completed: number|boolean}[]} p.items
 * @param {string|null} p.editing id of the todo being edited
 * @param {(text: string) => void} p.onAdd
 * @param {(id: string, text: string) => void} p.onEdit
 * @param {(id: string, done: boolean) => void} p.onToggle
 * @param {(id: string|null) => void} p.onEditing
 * @param {(id: string) => void} [p.onHistory]
 * @param {string} p.label accessible name of the list
 */
export function todoList(p) {
  const add = h("input.new-todo", {
    placeholder: "What needs to be done?",
    "aria-label": `New todo for ${p.label}`,
    onkeydown: (e) => {
      if (e.key === "Enter" && add.value.trim()) {
        p.onAdd(add.value.trim());
        add.value = "";
      }
    },
  });
  const items = p.items.map((t) => {
    const done = !!t.completed;
    if (p.editing === t.id) {
      let finished = false;
      const finish = (save) => {
        if (finished) return;
        finished = true;
        if (save && input.value.trim() && input.value.trim() !== t.content) p.onEdit(t.id, input.value.trim());
        p.onEditing(null);
      };
      const input = h("input.edit", {
        value: t.content,
        "aria-label": `Edit “${t.content}”`,
        onkeydown: (e) => {
          if (e.key === "Enter") finish(true);
          if (e.key === "Escape") finish(false);
        },
        onblur: () => finish(true),
      });
      queueMicrotask(() => {
        input.focus();
        input.select();
      });
      return h("li.editing", { dataset: { id: t.id } }, input);
    }
    const box = h("input.toggle", {
      type: "checkbox",
      checked: done,
      "aria-label": `Completed: ${t.content}`,
      onchange: () => p.onToggle(t.id, box.checked),
    });
    return h(
      "li" + (done ? ".completed" : ""),
      { dataset: { id: t.id } },
      box,
      // Not a <label for> the checkbox: a double-click to edit would
      // toggle it twice on the way.
      h("span.content", {
        tabindex: "0",
        role: "button",
        title: "Double-click (or Enter) to edit",
        ondblclick: () => p.onEditing(t.id),
        onkeydown: (e) => e.key === "Enter" && p.onEditing(t.id),
      }, t.content),
      p.onHistory && h("button.history", { type: "button", title: "History of this todo", "aria-label": `History of “${t.content}”`, onclick: () => p.onHistory(t.id) }, "history"),
    );
  });
  return h("div.todos", {}, add, h("ul.todo-list", { "aria-label": p.label }, items), h("p.count", {}, `${p.items.filter((t) => !t.completed).length} left`));
}

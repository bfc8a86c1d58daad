import { commands, events } from "./bindings"; void commands; void events;
